/**
 * Browsing an OPC UA address space for the editor: the children of a node, with what a person
 * needs to pick a channel (name, NodeId, class, data type).
 */
import { AttributeIds, BrowseDirection, DataType, NodeClass, NodeClassMask, type ClientSession } from 'node-opcua-client';
import { endpointError } from './errors';

export interface BrowseItem {
  nodeId: string;
  browseName: string;
  displayName: string;
  nodeClass: 'Object' | 'Variable';
  /** Built-in data type name of a variable (e.g. "Double"), or the data type's NodeId. */
  dataType?: string;
}

/** The Objects folder, where browsing starts. */
export const OBJECTS_FOLDER = 'ns=0;i=85';
const MAX_ITEMS = 1000;

/** Objects and variables below `nodeId` (hierarchical references, forward), at most 1000. */
export async function browseChildren(session: ClientSession, nodeId: string = OBJECTS_FOLDER): Promise<BrowseItem[]> {
  let result = await session.browse({
    nodeId,
    referenceTypeId: 'HierarchicalReferences',
    includeSubtypes: true,
    browseDirection: BrowseDirection.Forward,
    nodeClassMask: NodeClassMask.Object | NodeClassMask.Variable,
    resultMask: 0x3f,
  });
  if (result.statusCode.isNotGood()) {
    const status = result.statusCode.name;
    throw endpointError('browseFailed', { nodeId, status }, `cannot browse ${nodeId}: ${status}`);
  }
  const refs = [...(result.references ?? [])];
  while (result.continuationPoint && refs.length < MAX_ITEMS) {
    result = await session.browseNext(result.continuationPoint, false);
    refs.push(...(result.references ?? []));
  }
  if (result.continuationPoint) await session.browseNext(result.continuationPoint, true).catch(() => undefined);
  const items: BrowseItem[] = refs.slice(0, MAX_ITEMS).map((r) => ({
    nodeId: r.nodeId.toString(),
    browseName: r.browseName.name ?? '',
    displayName: r.displayName.text ?? r.browseName.name ?? '',
    nodeClass: r.nodeClass === NodeClass.Variable ? 'Variable' : 'Object',
  }));
  const variables = items.filter((i) => i.nodeClass === 'Variable');
  if (variables.length) {
    const types = await session.read(variables.map((v) => ({ nodeId: v.nodeId, attributeId: AttributeIds.DataType })));
    types.forEach((dv, k) => {
      const id = dv.value?.value as { namespace: number; value: unknown } | null;
      if (!id) return;
      variables[k].dataType = id.namespace === 0 && typeof id.value === 'number' && DataType[id.value] ? DataType[id.value] : String(id);
    });
  }
  return items.sort((a, b) => (a.nodeClass === b.nodeClass ? a.displayName.localeCompare(b.displayName) : a.nodeClass === 'Object' ? -1 : 1));
}
