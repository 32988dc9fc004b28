/**
 * The one reader of a model file: read, hash (sha256), decode the ONNX description and this
 * package's metadata. Used by the session worker (sync, off the event loop), by drift detect for
 * a model's reference and by the editor's inspect endpoint (async).
 */
import { createHash } from 'crypto';
import { promises as fsp, readFileSync } from 'fs';
import { commonError } from '../node-red/errors';
import { fromMetadataProps, type ModelMetadata } from '../model-metadata';
import { decodeModelInfo, type OnnxModelInfo } from './proto';

export interface ModelFile {
  bytes: Buffer;
  size: number;
  /** "sha256:<hex>" of the file, as in model messages and OCI descriptors. */
  digest: string;
  info: OnnxModelInfo;
  /** This package's metadata (feature names, reference, metrics ...); undefined for a model from elsewhere. */
  metadata: Partial<ModelMetadata> | undefined;
}

/** `code` 'modelRead' (the file cannot be read) or 'modelCorrupt' (not an ONNX model). */
export function decodeModelFile(bytes: Buffer, path: string): ModelFile {
  let info: OnnxModelInfo;
  try {
    info = decodeModelInfo(bytes);
  } catch (e) {
    const reason = (e as Error).message;
    throw commonError('modelCorrupt', { path, reason }, `${path} is not a readable ONNX model: ${reason}`);
  }
  return {
    bytes,
    size: bytes.length,
    digest: 'sha256:' + createHash('sha256').update(bytes).digest('hex'),
    info,
    metadata: fromMetadataProps(info.metadata),
  };
}

const readError = (path: string, e: unknown) => {
  const reason = (e as Error).message;
  return commonError('modelRead', { path, reason }, `cannot read the model file ${path}: ${reason}`);
};

export function readModelFileSync(path: string): ModelFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw readError(path, e);
  }
  return decodeModelFile(bytes, path);
}

export async function readModelFile(path: string): Promise<ModelFile> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(path);
  } catch (e) {
    throw readError(path, e);
  }
  return decodeModelFile(bytes, path);
}
