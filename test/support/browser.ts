// A real headless browser for the web console tests: Debian's chromium driven by playwright-core
// (no browser download is possible here, so executablePath points at the system one). Outside CI a
// missing chromium skips the suite with a printed reason; with CI=true it fails, so CI cannot pass
// without a browser having clicked through the console.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";

/** `$MESHWARD_CHROMIUM`, else Debian's package (`apt-get install chromium`, in scripts/setup.sh). */
export const CHROMIUM = process.env["MESHWARD_CHROMIUM"] ?? "/usr/bin/chromium";

/** Where screenshots go (git-ignored; CI keeps the folder as an artifact). */
export const SCREENSHOT_DIR = join(process.cwd(), "test-artifacts", "console");

/** For a mocha `before` hook: a launched browser, or the hook skips the suite (outside CI). */
export async function chromiumOrSkip(hook: Mocha.Context): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    const reason = `${CHROMIUM} not found (apt-get install chromium, or set MESHWARD_CHROMIUM)`;
    if (process.env["CI"] === "true") throw new Error(`the console's browser tests must run in CI: ${reason}`);
    console.log(`      skipping the browser tests: ${reason}`);
    return hook.skip();
  }
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  // --no-sandbox: the tests run as root, which chromium's sandbox refuses.
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
}
