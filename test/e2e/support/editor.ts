/**
 * Helpers for the editor e2e test: a chromium page that drives the editor's dialogs as a person
 * would (Node-RED itself: test/support/red-process.ts; the browser: test/support/browser.ts).
 */
import type { Page } from 'playwright-core';

/** The form of the open node dialog, or of the config node dialog stacked on it. */
export const NODE_FORM = '#dialog-form';
export const CONFIG_FORM = '#node-config-dialog-edit-form';

/**
 * What a person sees of a dialog: its visible rows, each by the text of its label (or, for a row
 * without one, `#` and the id of its first element with an id).
 */
export function visibleRows(page: Page, form: string): Promise<string[]> {
  return page.evaluate((sel) => {
    const rows = Array.from(document.querySelectorAll(`${sel} .form-row`)) as HTMLElement[];
    return rows
      .filter((r) => r.getClientRects().length > 0 && getComputedStyle(r).visibility !== 'hidden')
      .map((r) => {
        const label = r.querySelector('label') as HTMLElement | null;
        const text = label ? label.innerText.replace(/\s+/g, ' ').trim() : '';
        return text || `#${r.querySelector('[id]')?.id ?? '?'}`;
      });
  }, form);
}

/** Fills a field and lets the editor know as typing would (input, keyup, change), so it validates the dialog. */
export async function enter(page: Page, selector: string, value: string): Promise<void> {
  const el = page.locator(selector);
  await el.fill(value);
  await el.dispatchEvent('keyup');
  await el.dispatchEvent('change');
}

/** The tooltip a person sees when hovering a field marked invalid (the validator's message). */
export async function hoverMessage(page: Page, selector: string): Promise<string> {
  const el = page.locator(selector);
  if (!(await el.evaluate((e) => e.classList.contains('input-error')))) return '(not marked invalid)';
  await away(page);
  await el.hover();
  const tip = page.locator('.red-ui-popover:visible').last();
  try {
    await tip.waitFor({ state: 'visible', timeout: 3000 });
  } catch {
    return '(marked invalid, no message)';
  }
  const text = (await tip.innerText()).trim();
  await away(page);
  return text;
}

/** Moves the mouse off the dialog and waits until no tooltip is left showing. */
async function away(page: Page): Promise<void> {
  await page.mouse.move(1, 1);
  await page.waitForFunction(() => Array.from(document.querySelectorAll('.red-ui-popover')).every((e) => (e as HTMLElement).getClientRects().length === 0), undefined, { timeout: 1500, polling: 50 }).catch(() => undefined);
}

/** Cancels whatever dialogs are open (after a failed test, so the next starts on the workspace). */
export async function cancelAll(page: Page): Promise<void> {
  for (const button of ['#node-config-dialog-cancel', '#node-dialog-cancel']) {
    const b = page.locator(button);
    if (await b.isVisible().catch(() => false)) {
      await b.click();
      await page.waitForTimeout(500);
    }
  }
}

/** The nodes' validity and validation messages as the editor holds them. */
export function nodeState(page: Page, id: string): Promise<{ valid: boolean; errors: string[]; props: Record<string, unknown> } | null> {
  return page.evaluate((nid) => {
    type N = { valid: boolean; validationErrors?: string[]; [k: string]: unknown };
    const RED = (window as unknown as { RED: { nodes: { node(id: string): N | null } } }).RED;
    const n = RED.nodes.node(nid);
    if (!n) return null;
    const props: Record<string, unknown> = {};
    for (const k of Object.keys(n)) if (typeof n[k] !== 'object' || Array.isArray(n[k])) props[k] = n[k];
    return { valid: n.valid, errors: n.validationErrors ?? [], props };
  }, id);
}

/** Drags a node from the palette onto the workspace and returns the id of the new node. */
export async function dragFromPalette(page: Page, type: string, to: { x: number; y: number }): Promise<string> {
  const before = await nodeIds(page, type);
  const item = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
  await item.scrollIntoViewIfNeeded();
  const box = (await item.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 + 20, box.y + box.height / 2 + 5, { steps: 5 });
  await page.mouse.move(to.x, to.y, { steps: 15 });
  await page.mouse.up();
  const after = await nodeIds(page, type);
  const added = after.filter((id) => !before.includes(id));
  if (added.length !== 1) throw new Error(`dragging ${type} from the palette added ${added.length} nodes`);
  return added[0];
}

function nodeIds(page: Page, type: string): Promise<string[]> {
  return page.evaluate((t) => {
    const RED = (window as unknown as { RED: { nodes: { filterNodes(f: { type: string }): Array<{ id: string }> } } }).RED;
    return RED.nodes.filterNodes({ type: t }).map((n) => n.id);
  }, type);
}

/** Opens a node's edit dialog by a double click on it, as a person does. */
export async function openNode(page: Page, id: string, ready: string): Promise<void> {
  await page.evaluate((nid) => {
    const RED = (window as unknown as { RED: { nodes: { node(id: string): { z: string } }; workspaces: { show(z: string): void; active(): string } } }).RED;
    const z = RED.nodes.node(nid).z;
    if (RED.workspaces.active() !== z) RED.workspaces.show(z);
  }, id);
  // the node's body: the group's box also holds its status text, whose middle can be a wire
  await page.locator(`g.red-ui-flow-node[id="${id}"] > rect.red-ui-flow-node`).dblclick();
  await page.waitForSelector(ready, { state: 'attached' });
  // the tray slides in: wait until it stands
  await page.waitForFunction(() => !document.querySelector('.red-ui-tray.red-ui-tray-opening'), undefined, { timeout: 5000 }).catch(() => undefined);
  await page.waitForTimeout(100);
}

/** Closes the dialog with Cancel or Done and waits until it is gone. */
export async function closeDialog(page: Page, how: 'cancel' | 'ok', config = false): Promise<void> {
  const button = config ? `#node-config-dialog-${how}` : `#node-dialog-${how}`;
  await page.locator(button).click();
  await page.waitForSelector(config ? CONFIG_FORM : NODE_FORM, { state: 'detached', timeout: 5000 });
}
