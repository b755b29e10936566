// The helpers every format gets through its ctx, so plugins need not import bale.
import type { Helpers } from "./format.ts";
import { canonicalJson, MediaType, parseConfig, parseDescriptor, parseIndex, parseManifest } from "./oci.ts";
import { familiarName, isBareTag, isValidRefName, isValidTag, normalizeName, parseReference } from "./reference.ts";

export function makeHelpers(warn: (message: string) => void): Helpers {
  return {
    mediaTypes: MediaType,
    reference: { parseReference, normalizeName, familiarName, isValidRefName, isBareTag, isValidTag },
    parseManifest,
    parseIndex,
    parseConfig,
    parseDescriptor,
    canonicalJson,
    warn,
  };
}
