"""Reading manifests the way kubectl and the API server do: load (file:line kept), kinds,
strict validation, defaulting and patches. Lowest layer: imports only meshrepro.errors/sim."""

from meshrepro.manifests.defaults import apply_defaults
from meshrepro.manifests.kinds import KindInfo, KindRegistry
from meshrepro.manifests.load import Manifest, load_documents, load_file
from meshrepro.manifests.patch import (
    PatchError,
    json_merge_patch,
    json_patch,
    last_applied_configuration,
    merge_patch_diff,
    strategic_merge,
    three_way_merge,
    with_last_applied,
)
from meshrepro.manifests.validate import FieldProblem, strict_decoding_message, validate

__all__ = [
    "FieldProblem", "KindInfo", "KindRegistry", "Manifest", "PatchError", "apply_defaults", "json_merge_patch",
    "json_patch", "last_applied_configuration", "load_documents", "load_file", "merge_patch_diff",
    "strategic_merge", "strict_decoding_message", "three_way_merge", "validate", "with_last_applied",
]
