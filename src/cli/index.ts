import { main } from "./main.js";

// Exit through process.exitCode so stdout drains before the process ends.
main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error: ${String(err)}\n`);
    process.exitCode = 2;
  },
);
