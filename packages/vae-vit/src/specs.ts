import { linearSpecs, normSpecs, type ParamInit, type ParamSpec } from '@gq/nn';
import { mlpWidth, tokenCount, type VitConfig } from './config.js';

/** timm's trunc_normal_(std=0.02) with its absolute bounds ±2 (≈ ±100σ, so effectively untruncated). */
const truncated: ParamInit = { kind: 'truncatedNormal', std: 0.02, low: -2, high: 2 };
const zero: ParamInit = { kind: 'constant', value: 0 };

/** One pre-LN block; the reference re-inits every non-LN weight to trunc_normal(0.02) and every bias to 0. */
function blockSpecs(name: string, width: number, hidden: number): ParamSpec[] {
  return [
    ...normSpecs(`${name}.ln_1`, width),
    { name: `${name}.attn.in_proj_weight`, torchShape: [3 * width, width], kind: 'linear', init: truncated },
    { name: `${name}.attn.in_proj_bias`, torchShape: [3 * width], kind: 'plain', init: zero },
    ...linearSpecs(`${name}.attn.out_proj`, width, width, { weightInit: truncated, biasInit: zero }),
    ...normSpecs(`${name}.ln_2`, width),
    ...linearSpecs(`${name}.mlp.c_fc`, width, hidden, { weightInit: truncated, biasInit: zero }),
    ...linearSpecs(`${name}.mlp.c_proj`, hidden, width, { weightInit: truncated, biasInit: zero }),
  ];
}

function transformerSpecs(prefix: string, config: VitConfig): ParamSpec[] {
  const specs: ParamSpec[] = [];
  for (let i = 0; i < config.layers; i++) specs.push(...blockSpecs(`${prefix}.transformer.resblocks.${i}`, config.width, mlpWidth(config)));
  return specs;
}

function positionalSpec(prefix: string, config: VitConfig): ParamSpec {
  return { name: `${prefix}.positional_embedding`, torchShape: [tokenCount(config), config.width], kind: 'plain', init: { kind: 'normal', std: 0.02 } };
}

/** Encoder parameters in the reference's state_dict order, keys prefixed `encoder.`. */
export function encoderSpecs(config: VitConfig): ParamSpec[] {
  const patchFeatures = 3 * config.patchSize * config.patchSize;
  return [
    positionalSpec('encoder', config),
    // With ln_pre the patch embedding has no bias (bias = not ln_pre in the reference).
    ...linearSpecs('encoder.conv1', patchFeatures, config.width, { bias: false, weightInit: truncated }),
    ...normSpecs('encoder.ln_pre', config.width),
    ...transformerSpecs('encoder', config),
    ...normSpecs('encoder.ln_post', config.width),
    ...linearSpecs('encoder.quant_embed', config.width, 2 * config.zChannels),
  ];
}

/** Decoder parameters in the reference's state_dict order, keys prefixed `decoder.`. */
export function decoderSpecs(config: VitConfig): ParamSpec[] {
  const patchFeatures = 3 * config.patchSize * config.patchSize;
  return [
    positionalSpec('decoder', config),
    ...linearSpecs('decoder.ffn.0', config.width, config.dimFfnOutput, { weightInit: truncated }),
    ...linearSpecs('decoder.conv_out', config.dimFfnOutput, patchFeatures, { weightInit: truncated }),
    ...normSpecs('decoder.ln_pre', config.width),
    ...transformerSpecs('decoder', config),
    ...normSpecs('decoder.ln_post', config.width),
    ...linearSpecs('decoder.post_quant_embed', config.zChannels, config.width),
  ];
}

/** All parameters, encoder first, in state_dict order. */
export function vitSpecs(config: VitConfig): ParamSpec[] {
  return [...encoderSpecs(config), ...decoderSpecs(config)];
}
