// The `docker` format: Docker archives (`docker save`/`docker load`), every
// variant in, the hybrid Docker + OCI layout of docker ≥25 out.
import { defineFormat } from "../../src/format.ts";
import { loadDockerArchive } from "./load.ts";
import { saveDockerArchive } from "./save.ts";

export default defineFormat({
  name: "docker",
  description: "Docker archive (docker save/load; written as docker ≥25's hybrid with an OCI layout)",
  // `repositories` alone is a pre-1.10 archive: claim it so that load can say
  // why it is refused, rather than "no format recognises it". An OCI layout
  // that happens to hold a `repositories` file stays the oci format's.
  detect: (files) => files.has("manifest.json") || (files.has("repositories") && !files.has("index.json")),
  load: loadDockerArchive,
  save: saveDockerArchive,
});
