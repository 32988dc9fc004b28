/**
 * Which models may run on the Node-RED thread: those whose run time is fixed by the sizes of
 * their inputs and weights, never by the values in them. A probe on zero inputs measures such a
 * model truthfully. A graph with ConstantOfShape, Expand, Tile, Range, Pad, Resize, a loop or a
 * custom operator can make an output as large as an input VALUE says (Cast -> ConstantOfShape ->
 * ReduceSum turns the number 5e8 into 2 GB of work): its probe on zeros says nothing, so it
 * always runs in its worker.
 */

/** ai.onnx operators whose work is bounded by a fixed function of their input and weight sizes. */
const DEFAULT_DOMAIN = `Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization
  Cast CastLike Ceil Celu Clip Concat Constant Conv Cos Cosh CumSum DequantizeLinear Div Dropout Elu Equal Erf Exp
  Flatten Floor GRU Gather GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalMaxPool Greater GreaterOrEqual
  HardSigmoid HardSwish Hardmax Identity InstanceNormalization IsInf IsNaN LRN LSTM LayerNormalization LeakyRelu Less
  LessOrEqual Log LogSoftmax LpNormalization MatMul MatMulInteger Max MaxPool Mean Min Mish Mod Mul Neg Not Or PRelu
  Pow QLinearConv QLinearMatMul QuantizeLinear RNN Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax
  ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Round Selu Shape Shrink Sigmoid Sign Sin Sinh
  Size Slice Softmax Softplus Softsign Split Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu Transpose Trilu Unsqueeze
  Where Xor`;

/** ai.onnx.ml operators (scikit-learn exports): trees, linear models and scalers, bounded by their parameters. */
const ML_DOMAIN = `ArrayFeatureExtractor Binarizer FeatureVectorizer Imputer LabelEncoder LinearClassifier LinearRegressor
  Normalizer OneHotEncoder SVMClassifier SVMRegressor Scaler TreeEnsemble TreeEnsembleClassifier TreeEnsembleRegressor ZipMap`;

const VALUE_INDEPENDENT = new Set([...DEFAULT_DOMAIN.split(/\s+/), ...ML_DOMAIN.split(/\s+/).map((op) => `ai.onnx.ml.${op}`)]);

/** The operators of `ops` (as decodeModelInfo names them) whose cost may depend on input values. */
export function valueDependentOps(ops: readonly string[]): string[] {
  return ops.filter((op) => !VALUE_INDEPENDENT.has(op));
}
