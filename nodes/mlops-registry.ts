/**
 * Config node: where models come from (an OCI image-layout folder, an OCI registry, an MLflow
 * Model Registry, plain URLs), with credentials as Node-RED credentials and the cosign public key
 * that pulled models must be signed with. Like 06-httpproxy.js: settings only, no connection of
 * its own (each registry pull node makes its own client; the store is per pull node).
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { resolveUserPath } from './lib/node-red/paths';
import { DEFAULT_LAYOUT, type RegistryKind, type RegistrySettings } from './lib/registry/pull';

interface RegistryDef {
  kind?: RegistryKind;
  location?: string;
  caFile?: string;
  allowHttp?: boolean;
  publicKey?: string;
}

type RegistryCredentials = { username?: string; password?: string; token?: string };

/** What a registry pull node asks its registry node for (RegistryConfig in lib/registry/pull.ts). */
type RegistryNode = Node<RegistryCredentials> & { settings(): RegistrySettings };

export = function (RED: NodeAPI) {
  function MlopsRegistry(this: RegistryNode, def: NodeDef & RegistryDef) {
    RED.nodes.createNode(this, def);
    const kind = def.kind ?? 'layout';
    const location = String(def.location ?? '').trim();
    this.settings = () => ({
      kind,
      location: kind === 'layout' ? resolveUserPath(RED, location || DEFAULT_LAYOUT) : location,
      caFile: def.caFile?.trim() ? resolveUserPath(RED, def.caFile.trim()) : undefined,
      allowHttp: def.allowHttp === true,
      publicKey: def.publicKey?.trim() || undefined,
      credentials: { ...this.credentials },
    });
  }

  RED.nodes.registerType('mlops-registry', MlopsRegistry as never, {
    credentials: { username: { type: 'text' }, password: { type: 'password' }, token: { type: 'password' } },
  });
};
