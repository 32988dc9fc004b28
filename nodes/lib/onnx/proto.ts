/**
 * A small ONNX (protobuf) writer and reader for the subset this package needs: dense graphs of
 * float tensors with initializers, attributes, and metadata_props. No dependency: the protobuf
 * wire format is a few rules (varints and length-delimited fields), and onnx.proto's field
 * numbers are fixed by the ONNX specification.
 */

export type ElemType = 'float32' | 'int64' | 'float64' | 'int32';
/** TensorProto.DataType numbers. */
const ELEM_TYPE_CODE: Record<ElemType, number> = { float32: 1, int32: 6, int64: 7, float64: 11 };
const ELEM_TYPE_NAME: Record<number, ElemType> = { 1: 'float32', 6: 'int32', 7: 'int64', 11: 'float64' };

export interface OnnxTensor {
  name: string;
  dims: number[];
  /** float32 initializers (weights); int64 for shape constants. */
  data: Float32Array | BigInt64Array;
}

export type AttributeValue = number | number[] | string | { int: number } | { ints: number[] };

export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  /** Numbers are written as FLOAT, `{int}` / `{ints}` as INT / INTS, strings as STRING. */
  attributes?: Record<string, AttributeValue>;
}

export interface OnnxValueInfo {
  name: string;
  elemType: ElemType;
  /** A number is a fixed dimension, a string a symbolic one (e.g. "batch"). */
  shape: Array<number | string>;
}

export interface OnnxGraphSpec {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export interface OnnxModelSpec {
  graph: OnnxGraphSpec;
  /** Opset of the default (ai.onnx) domain. */
  opset?: number;
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  modelVersion?: number;
  docString?: string;
  /** metadata_props: string keys and values (JSON-encode structured values). */
  metadata?: Record<string, string>;
}

export interface OnnxModelInfo {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opset: number;
  metadata: Record<string, string>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** The operators of the main graph, once each, sorted: "MatMul", or "<domain>.<op>" outside ai.onnx ("ai.onnx.ml.Scaler"). */
  ops: string[];
}

// ------------------------------------------------------------------ writer

class Writer {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.length;
  }

  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    const out: number[] = [];
    while (x >= 0x80n) {
      out.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    out.push(Number(x));
    this.push(Uint8Array.from(out));
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number | bigint): void {
    this.tag(field, 0);
    this.varint(v);
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.varint(b.length);
    this.push(b);
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  float(field: number, v: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
  }

  message(field: number, build: (w: Writer) => void): void {
    const w = new Writer();
    build(w);
    this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

function writeValueInfo(w: Writer, v: OnnxValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, ELEM_TYPE_CODE[v.elemType]);
      tensor.message(2, (shape) => {
        for (const d of v.shape) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

function writeTensor(w: Writer, t: OnnxTensor): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.data instanceof BigInt64Array ? ELEM_TYPE_CODE.int64 : ELEM_TYPE_CODE.float32);
  w.string(8, t.name);
  const raw = new Uint8Array(t.data.byteLength);
  const view = new DataView(raw.buffer);
  if (t.data instanceof BigInt64Array) t.data.forEach((x, i) => view.setBigInt64(i * 8, x, true));
  else t.data.forEach((x, i) => view.setFloat32(i * 4, x, true));
  w.bytes(9, raw);
}

function writeAttribute(w: Writer, name: string, v: AttributeValue): void {
  w.string(1, name);
  if (typeof v === 'number') {
    w.float(2, v);
    w.int(20, 1);
  } else if (typeof v === 'string') {
    w.string(4, v);
    w.int(20, 3);
  } else if (Array.isArray(v)) {
    for (const f of v) w.float(7, f);
    w.int(20, 6);
  } else if ('int' in v) {
    w.int(3, v.int);
    w.int(20, 2);
  } else {
    for (const i of v.ints) w.int(8, i);
    w.int(20, 7);
  }
}

/** Serialises a model to the bytes of an .onnx file. */
export function encodeModel(spec: OnnxModelSpec): Uint8Array {
  const w = new Writer();
  w.int(1, spec.irVersion ?? 8);
  w.string(2, spec.producerName ?? 'node-red-mlops');
  w.string(3, spec.producerVersion ?? '0');
  if (spec.modelVersion !== undefined) w.int(5, spec.modelVersion);
  if (spec.docString) w.string(6, spec.docString);
  const g = spec.graph;
  w.message(7, (gw) => {
    g.nodes.forEach((n, i) =>
      gw.message(1, (nw) => {
        for (const x of n.inputs) nw.string(1, x);
        for (const x of n.outputs) nw.string(2, x);
        nw.string(3, n.name ?? `${n.opType}_${i}`);
        nw.string(4, n.opType);
        for (const [k, v] of Object.entries(n.attributes ?? {})) nw.message(5, (aw) => writeAttribute(aw, k, v));
      }),
    );
    gw.string(2, g.name);
    for (const t of g.initializers) gw.message(5, (tw) => writeTensor(tw, t));
    for (const v of g.inputs) gw.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of g.outputs) gw.message(12, (vw) => writeValueInfo(vw, v));
  });
  w.message(8, (ow) => {
    ow.string(1, '');
    ow.int(2, spec.opset ?? 17);
  });
  for (const [k, v] of Object.entries(spec.metadata ?? {})) {
    w.message(14, (mw) => {
      mw.string(1, k);
      mw.string(2, v);
    });
  }
  return w.finish();
}

// ------------------------------------------------------------------ reader

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length) {}

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated protobuf varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result;
      shift += 7n;
      if (shift > 70n) throw new Error('invalid protobuf varint');
    }
  }

  /** Calls `f(field, wire, reader)` for every field; length-delimited values come as sub-readers. */
  each(f: (field: number, wire: number, value: bigint | Reader) => void): void {
    while (this.pos < this.end) {
      const key = Number(this.varint());
      const field = key >>> 3;
      const wire = key & 7;
      if (wire === 0) f(field, wire, this.varint());
      else if (wire === 2) {
        const len = Number(this.varint());
        if (this.pos + len > this.end) throw new Error('truncated protobuf field');
        const sub = new Reader(this.buf.subarray(this.pos, this.pos + len));
        this.pos += len;
        f(field, wire, sub);
      } else if (wire === 5) this.pos += 4;
      else if (wire === 1) this.pos += 8;
      else throw new Error(`unsupported protobuf wire type ${wire}`);
      if (this.pos > this.end) throw new Error('truncated protobuf field');
    }
  }

  text(): string {
    return new TextDecoder().decode(this.buf.subarray(this.pos, this.end));
  }
}

function readValueInfo(r: Reader): OnnxValueInfo {
  const v: OnnxValueInfo = { name: '', elemType: 'float32', shape: [] };
  r.each((f, _w, x) => {
    if (f === 1) v.name = (x as Reader).text();
    else if (f === 2) {
      (x as Reader).each((tf, _tw, tx) => {
        if (tf !== 1) return;
        (tx as Reader).each((ff, _fw, fx) => {
          if (ff === 1) v.elemType = ELEM_TYPE_NAME[Number(fx)] ?? (`type${Number(fx)}` as ElemType);
          else if (ff === 2) {
            (fx as Reader).each((df, _dw, dx) => {
              if (df !== 1) return;
              let dim: number | string = '?';
              (dx as Reader).each((kf, _kw, kx) => {
                if (kf === 1) dim = Number(kx);
                else if (kf === 2) dim = (kx as Reader).text();
              });
              v.shape.push(dim);
            });
          }
        });
      });
    }
  });
  return v;
}

/** A NodeProto's operator: op_type (field 4), prefixed by its domain (field 7) outside ai.onnx. */
function readOpType(r: Reader): string {
  let op = '';
  let domain = '';
  r.each((f, w, x) => {
    if (w !== 2) return;
    if (f === 4) op = (x as Reader).text();
    else if (f === 7) domain = (x as Reader).text();
  });
  return domain === '' || domain === 'ai.onnx' ? op : `${domain}.${op}`;
}

/**
 * Reads what a person (and the nodes) need to know of a model without loading it: producer,
 * opset, metadata_props, and the graph's inputs and outputs (names, element types, shapes).
 * Throws on bytes that are not a protobuf ModelProto.
 */
export function decodeModelInfo(bytes: Uint8Array): OnnxModelInfo {
  const info: OnnxModelInfo = { irVersion: 0, producerName: '', producerVersion: '', opset: 0, metadata: {}, inputs: [], outputs: [], ops: [] };
  const ops = new Set<string>();
  let sawGraph = false;
  new Reader(bytes).each((f, w, x) => {
    if (f === 1 && w === 0) info.irVersion = Number(x);
    else if (f === 2 && w === 2) info.producerName = (x as Reader).text();
    else if (f === 3 && w === 2) info.producerVersion = (x as Reader).text();
    else if (f === 8 && w === 2) {
      let domain = '';
      let version = 0;
      (x as Reader).each((of, _ow, ox) => {
        if (of === 1) domain = (ox as Reader).text();
        else if (of === 2) version = Number(ox);
      });
      if (domain === '' || domain === 'ai.onnx') info.opset = version;
    } else if (f === 14 && w === 2) {
      let key = '';
      let value = '';
      (x as Reader).each((mf, _mw, mx) => {
        if (mf === 1) key = (mx as Reader).text();
        else if (mf === 2) value = (mx as Reader).text();
      });
      info.metadata[key] = value;
    } else if (f === 7 && w === 2) {
      sawGraph = true;
      const initializerNames = new Set<string>();
      const inputs: OnnxValueInfo[] = [];
      (x as Reader).each((gf, gw, gx) => {
        if (gw !== 2) return;
        if (gf === 1) ops.add(readOpType(gx as Reader));
        else if (gf === 11) inputs.push(readValueInfo(gx as Reader));
        else if (gf === 12) info.outputs.push(readValueInfo(gx as Reader));
        else if (gf === 5) {
          (gx as Reader).each((tf, _tw, tx) => {
            if (tf === 8) initializerNames.add((tx as Reader).text());
          });
        }
      });
      // Old exporters list initializers among the inputs: they are not inputs a caller feeds.
      info.inputs = inputs.filter((i) => !initializerNames.has(i.name));
    }
  });
  if (!sawGraph || info.irVersion === 0) throw new Error('not an ONNX model (no graph or IR version found)');
  info.ops = [...ops].sort();
  return info;
}
