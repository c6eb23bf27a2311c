/** Every learned network's twin run on WebGPU in one child process (one Dawn start-up for all). */
import { type LearnedTwinResult, run as twin } from './webgpu-learned-scenario';

export async function run(args: { steps?: number }): Promise<Record<string, LearnedTwinResult>> {
  const steps = args.steps ?? 5;
  const sizes = [129, 32, 9];
  return {
    mlp: await twin({ case: 'mlp', device: 'webgpu', steps, sizes }),
    'lstm-adam': await twin({ case: 'lstm-adam', device: 'webgpu', steps, sizes }),
    'lstm-matmul': await twin({ case: 'lstm-pure', device: 'webgpu', steps, sizes, lstmCell: 'matmul' }),
    transformer: await twin({ case: 'transformer', device: 'webgpu', steps, sizes }),
  };
}
