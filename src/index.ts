// The public API for format plugin authors: the Format contract and defineFormat.
export { defineFormat } from "./format.ts";
export type { ArchiveEntry, ArchiveFiles, Format, Helpers, LayerEntry, LoadContext, LoadedImage, OutputEntry, OutputManifest, SaveContext, SaveImage, SaveOptions } from "./format.ts";
export type { Descriptor, ImageConfig, Index, Manifest, Platform } from "./oci.ts";
