// What the browser tests share: Chromium started as this machine can run it (no sandbox as root,
// no background connections, which the closed network refuses), and named steps that report
// and go on, the run failing at the end if one failed.
import { chromium } from "playwright-core";

export const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

let failed = false;

/** Runs one named check, printing `ok` or `FAIL` with the error. */
export const step = async (name, fn) => {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed = true;
    console.log(`FAIL ${name}\n${e.stack || e}`);
  }
};

/** Closes the browser; the process fails if a step did. */
export const finish = async () => {
  await browser.close();
  if (failed) process.exit(1);
};
