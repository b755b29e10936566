// Hashes one file with bale's own SHA-256 engine, to time the engines alone
// (without the store or tar parsing around them).
//   node --import tsx bench/hash.ts native|wasm FILE
import { createReadStream } from "node:fs";
import { createHasher, type HasherEngine } from "../src/digest.ts";

const [engine, file] = process.argv.slice(2);
const hasher = await createHasher(engine as HasherEngine);
for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hasher.update(chunk as Buffer);
console.log(hasher.digest());
