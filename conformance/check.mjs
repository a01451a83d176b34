// What the client scripts share: a failed check ends the run with a line saying which.
export const fail = (msg) => {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
};

export const check = (ok, msg) => {
  if (!ok) fail(msg);
  console.log(`ok: ${msg}`);
};
