/** The tests' browser: Debian's chromium through playwright-core, and the errors a page reports. */
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium'; // Debian's chromium (npm test's setup installs it); never a downloaded browser
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Starts a headless chromium (each test checks first that CHROMIUM is there, saying how to install it). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * Page errors and console errors of a page, from the moment it is watched; console errors that
 * match `ignore` are left out (by default the network's: the editor asks the internet for nothing
 * of ours, and this machine may have no internet).
 */
export function watchErrors(page: Page, ignore: RegExp = /net::ERR_/): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !ignore.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return errors;
}
