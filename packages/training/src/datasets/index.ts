import type { FileStore } from '@gq/runtime/files';
import { TrainError } from '../errors.js';
import { loadCifar10 } from './cifar.js';
import type { ImageSet } from './dataset.js';
import { loadImageFolder } from './folder.js';
import { loadIdxImages } from './idx.js';
import { defaultPhotosDir, loadPhotos } from './photos.js';

export { seededPermutation, splitImages, toModelInput } from './dataset.js';
export type { ImageSet } from './dataset.js';
export { parseIdx } from './idx.js';
export { loadCifar10 } from './cifar.js';
export { loadImageFolder } from './folder.js';
export { loadIdxImages } from './idx.js';
export { defaultPhotosDir, loadPhotos } from './photos.js';
export type { PhotoOptions } from './photos.js';

/** Debian's dataset-fashion-mnist package installs the IDX files here. */
export const debianFashionMnist = '/usr/share/datasets/fashion-mnist';

// The sample ships in the package's data/ folder: two levels up from src/datasets/, one from the built dist/.
const bundledSample = new URL(import.meta.url.endsWith('.ts') ? '../../data/' : '../data/', import.meta.url);

/**
 * Load a dataset by spec:
 * - `sample`: the bundled 6 000 Fashion-MNIST images (28×28 gray, MIT licence);
 * - `fashion-mnist[:DIR]`: the full training set from IDX files (default: Debian's path);
 *   `fashion-mnist-test[:DIR]` the 10 000 test images;
 * - `cifar10:PATH`: CIFAR-10 binary batches (a folder or one .bin file);
 * - `folder:PATH`: every image below PATH, decoded with sharp and resized to `imageSize`;
 * - `photos[:DIR]`: natural photographs cut into `imageSize`-px patches and split by photograph
 *   (default DIR: `defaultPhotosDir(files)`, filled by `node scripts/prepare-photos.mjs`).
 *
 * Files are read through `files` (`nodeFiles` from `@gq/runtime/files` in Node).
 */
export async function loadDataset(files: FileStore, spec: string, imageSize: number): Promise<ImageSet> {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? undefined : spec.slice(colon + 1);
  switch (kind) {
    case 'sample':
      return loadIdxImages(
        files,
        new URL('fashion-mnist-sample-images-idx3-ubyte.gz', bundledSample),
        new URL('fashion-mnist-sample-labels-idx1-ubyte.gz', bundledSample),
        'fashion-mnist-sample',
      );
    case 'fashion-mnist':
    case 'fashion-mnist-test': {
      const dir = arg ?? debianFashionMnist;
      const prefix = kind === 'fashion-mnist' ? 'train' : 't10k';
      const images = `${dir}/${prefix}-images-idx3-ubyte.gz`;
      if (!files.exists(images)) {
        throw new TrainError(
          'dataset-missing',
          `Fashion-MNIST not found: ${images} does not exist (install Debian's dataset-fashion-mnist, or pass fashion-mnist:DIR)`,
        );
      }
      return loadIdxImages(files, images, `${dir}/${prefix}-labels-idx1-ubyte.gz`, kind);
    }
    case 'cifar10':
      if (arg === undefined) throw new TrainError('bad-dataset', 'cifar10 needs a path: --dataset cifar10:PATH');
      return loadCifar10(files, arg, 'train');
    case 'folder':
      if (arg === undefined) throw new TrainError('bad-dataset', 'folder needs a path: --dataset folder:PATH');
      return loadImageFolder(files, arg, imageSize);
    case 'photos': {
      const dir = arg ?? defaultPhotosDir(files);
      if (!files.exists(dir)) {
        throw new TrainError('dataset-missing', `photos not found: ${dir} does not exist (run node scripts/prepare-photos.mjs, or pass photos:DIR)`);
      }
      return loadPhotos(files, dir, imageSize);
    }
    default:
      throw new TrainError(
        'bad-dataset',
        `unknown dataset '${spec}': use sample, fashion-mnist[:DIR], fashion-mnist-test[:DIR], cifar10:PATH, folder:PATH or photos[:DIR]`,
      );
  }
}
