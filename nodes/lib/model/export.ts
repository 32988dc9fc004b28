/**
 * Turns a model trained by trainer.ts into an ONNX file (opset 17, IR 8) that carries its own
 * description (metadata.ts) in metadata_props.
 *
 * Graph (input "features" float32 [batch, d], batch symbolic):
 *   Sub(features, mean) -> Div(std) -> Gemm(W1, b1) -> act -> ... -> Gemm(Wn, bn) -> last
 *   regressor:    last = identity              output "prediction"    [batch, 1]
 *   classifier:   last = Sigmoid               output "probability"   [batch, 1]
 *   autoencoder:  reconstruction r of z = the standardised input;
 *                 Sub(r, z) -> Mul(e, e) -> ReduceMean(axes [1], keepdims 1)
 *                                              output "anomaly_score" [batch, 1]
 */
import { quantileSorted } from 'simple-statistics';
import { encodeModel, OnnxNode, OnnxTensor } from '../onnx/proto';
import { FeatureReference, ModelMetadata, toMetadataProps } from '../model-metadata';
import type { Activation, Rows, TrainedModel } from './trainer';

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;
export const INPUT_NAME = 'features';
/** The output name of each model kind. */
export const OUTPUT_NAMES: Record<TrainedModel['kind'], string> = {
  regressor: 'prediction',
  classifier: 'probability',
  autoencoder: 'anomaly_score',
};
export const DECILES = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];
/**
 * The quantiles a model's reference carries by default: the deciles (drift detect's PSI and
 * Jensen-Shannon bins) plus finer steps in the tails, where a piecewise-linear CDF through the
 * deciles alone is furthest off (up to 0.05 in CDF for normal data, which a KS test on a large
 * window would call drift).
 */
export const REFERENCE_PROBABILITIES = [0, 0.005, 0.01, 0.025, 0.05, ...DECILES.slice(1, -1), 0.95, 0.975, 0.99, 0.995, 1];

const ACTIVATION_OP: Record<Exclude<Activation, 'linear'>, string> = { relu: 'Relu', tanh: 'Tanh', sigmoid: 'Sigmoid' };

/** The model as the bytes of an .onnx file with `metadata` in its metadata_props. */
export function toOnnx(model: TrainedModel, metadata: ModelMetadata): Uint8Array {
  const d = model.inputSize;
  if (metadata.features.length !== d) {
    throw new Error(`metadata names ${metadata.features.length} features, the model takes ${d}`);
  }
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [
    { name: 'scaler.mean', dims: [d], data: Float32Array.from(model.mean) },
    { name: 'scaler.std', dims: [d], data: Float32Array.from(model.std) },
  ];
  nodes.push({ opType: 'Sub', inputs: [INPUT_NAME, 'scaler.mean'], outputs: ['centred'], name: 'scaler_sub' });
  nodes.push({ opType: 'Div', inputs: ['centred', 'scaler.std'], outputs: ['standardised'], name: 'scaler_div' });
  const output = OUTPUT_NAMES[model.kind];
  const isAe = model.kind === 'autoencoder';
  let h = 'standardised';
  model.layers.forEach((layer, l) => {
    const last = l === model.layers.length - 1;
    const wName = `dense${l}.weight`;
    const bName = `dense${l}.bias`;
    initializers.push({ name: wName, dims: [layer.inputs, layer.units], data: Float32Array.from(layer.w) });
    initializers.push({ name: bName, dims: [layer.units], data: Float32Array.from(layer.b) });
    const hasAct = layer.activation !== 'linear';
    const gemmOut = last && !hasAct && !isAe ? output : `dense${l}.linear`;
    nodes.push({ opType: 'Gemm', inputs: [h, wName, bName], outputs: [gemmOut], name: `dense${l}` });
    h = gemmOut;
    if (hasAct) {
      const actOut = last && !isAe ? output : `dense${l}.out`;
      nodes.push({ opType: ACTIVATION_OP[layer.activation as Exclude<Activation, 'linear'>], inputs: [h], outputs: [actOut], name: `dense${l}_act` });
      h = actOut;
    }
  });
  if (isAe) {
    nodes.push({ opType: 'Sub', inputs: [h, 'standardised'], outputs: ['reconstruction_error'], name: 'error' });
    nodes.push({ opType: 'Mul', inputs: ['reconstruction_error', 'reconstruction_error'], outputs: ['squared_error'], name: 'square' });
    nodes.push({
      opType: 'ReduceMean',
      inputs: ['squared_error'],
      outputs: [output],
      name: 'mean_squared_error',
      attributes: { axes: { ints: [1] }, keepdims: { int: 1 } },
    });
  }
  return encodeModel({
    irVersion: ONNX_IR_VERSION,
    opset: ONNX_OPSET,
    producerName: 'node-red-mlops',
    producerVersion: packageVersion(),
    docString: `${metadata.name} ${metadata.version}: ${model.kind} on ${d} features`,
    graph: {
      name: metadata.name,
      nodes,
      initializers,
      inputs: [{ name: INPUT_NAME, elemType: 'float32', shape: ['batch', d] }],
      outputs: [{ name: output, elemType: 'float32', shape: ['batch', 1] }],
    },
    metadata: toMetadataProps({ ...metadata, kind: metadata.kind ?? model.kind }),
  });
}

function packageVersion(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return String(require('../../../package.json').version ?? '0');
  } catch {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      return String(require('../../../../package.json').version ?? '0');
    } catch {
      return '0';
    }
  }
}

/**
 * The per-feature training reference for drift detection: for each feature, the quantile edges
 * at `probabilities` (simple-statistics' quantile convention; the first and last probabilities
 * 0 and 1 give min and max), the mean, the population standard deviation and the row count.
 * Non-finite values are left out of a feature's reference.
 */
export function referenceFromData(
  names: string[],
  rows: Rows,
  probabilities: number[] = REFERENCE_PROBABILITIES,
): NonNullable<ModelMetadata['reference']> {
  for (const p of probabilities) if (!(p >= 0 && p <= 1)) throw new Error(`probabilities must be in [0, 1], got ${p}`);
  const features: Record<string, FeatureReference> = {};
  names.forEach((name, c) => {
    const col: number[] = [];
    for (const row of rows) {
      if (row.length !== names.length) throw new Error(`a row has ${row.length} values for ${names.length} feature names`);
      const v = row[c];
      if (Number.isFinite(v)) col.push(v);
    }
    if (col.length === 0) {
      features[name] = { edges: [], mean: NaN, std: NaN, count: 0 };
      return;
    }
    col.sort((a, b) => a - b);
    let sum = 0;
    for (const v of col) sum += v;
    const mean = sum / col.length;
    let ss = 0;
    for (const v of col) ss += (v - mean) * (v - mean);
    features[name] = {
      edges: probabilities.map((p) => quantileSorted(col, p)),
      mean,
      std: Math.sqrt(ss / col.length),
      count: col.length,
    };
  });
  return { probabilities: [...probabilities], features };
}
