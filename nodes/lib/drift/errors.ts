/** lib/drift's errors are the shared coded errors; the name stays for readability at the throw sites. */
export { CodedError as DriftError } from '../node-red/errors';
