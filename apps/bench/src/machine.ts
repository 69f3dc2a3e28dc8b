import { execFileSync } from 'node:child_process';
import { cpus, totalmem, platform, arch, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';

/** Where and on what a report was measured; every report carries one. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
  readonly arch: string;
  /** 1-minute load average when the report was written: > cores means other work shared the CPUs. */
  readonly loadAverage: number;
  readonly backend: string;
  readonly tfjs: string;
  readonly commit: string;
  /** Tracked files with uncommitted changes at that moment (0 for a clean checkout). */
  readonly dirtyFiles: number;
  readonly date: string;
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export function machineInfo(backend: string): MachineInfo {
  const list = cpus();
  const status = git(['status', '--porcelain', '--untracked-files=no']);
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: platform(),
    arch: arch(),
    loadAverage: Math.round(loadavg()[0]! * 100) / 100,
    backend,
    tfjs: tf.version_core,
    commit: git(['rev-parse', 'HEAD']) ?? 'unknown (not a git checkout)',
    dirtyFiles: status === undefined || status === '' ? 0 : status.split('\n').length,
    date: new Date().toISOString(),
  };
}

export function describeMachine(m: MachineInfo): string {
  return (
    `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node} (${m.platform}/${m.arch}), ` +
    `tfjs ${m.tfjs} on ${m.backend}, load average ${m.loadAverage}`
  );
}
