// The OCI image layout format (image-spec image-layout.md), as skopeo's
// oci-archive:, podman save --format oci-archive, umoci and hyperd write it.
import { defineFormat } from "../../src/format.ts";
import { loadLayout } from "./load.ts";
import { saveLayout } from "./save.ts";

export default defineFormat({
  name: "oci",
  description: "OCI image layout (oci-layout, index.json, blobs/), as a tar or a directory",
  // Docker ≥25 archives are OCI layouts with a manifest.json: the docker format reads those.
  detect: (files) => files.has("oci-layout") && files.has("index.json") && !files.has("manifest.json"),
  load: loadLayout,
  save: saveLayout,
});
