//! Descriptor files (`catalog-info.yaml`): one or more YAML documents, each an
//! entity.
//!
//! A file that is not valid YAML fails as a whole (nothing in it can be
//! trusted); a document that is valid YAML but not a valid entity fails alone,
//! and the file's other documents still count.

use serde_json::Value;

use crate::entity::{Entity, EntityError};

/// Largest descriptor file accepted, in bytes.
pub const MAX_DESCRIPTOR_BYTES: usize = 1 << 20;

/// Why a whole descriptor file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorError {
    /// The file is not valid YAML (or breaks the parser's budgets).
    #[error("invalid YAML: {0}")]
    Yaml(String),
    /// The file is larger than [`MAX_DESCRIPTOR_BYTES`].
    #[error("file is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the file in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
}

/// Why one document of a descriptor file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {document}: {error}")]
pub struct DocumentError {
    /// 1-based position of the document in the file (empty documents not counted).
    pub document: usize,
    /// Why the document is not a valid entity.
    pub error: EntityError,
}

/// Parses a descriptor file into its YAML documents (as JSON values), without
/// validating them as entities; empty documents are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, DescriptorError> {
    if text.len() > MAX_DESCRIPTOR_BYTES {
        return Err(DescriptorError::TooLarge {
            size: text.len(),
            limit: MAX_DESCRIPTOR_BYTES,
        });
    }
    serde_saphyr::from_multiple(text).map_err(|e| DescriptorError::Yaml(e.to_string()))
}

/// Parses a descriptor file into its entities, one result per non-empty
/// document, in file order.
pub fn parse_descriptors(
    text: &str,
) -> Result<Vec<Result<Entity, DocumentError>>, DescriptorError> {
    if text.len() > MAX_DESCRIPTOR_BYTES {
        return Err(DescriptorError::TooLarge {
            size: text.len(),
            limit: MAX_DESCRIPTOR_BYTES,
        });
    }
    // serde-saphyr's defaults reject duplicate keys and bound alias expansion
    // and nesting (its `Budget`), which covers billion-laughs style input.
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| DescriptorError::Yaml(e.to_string()))?;
    Ok(docs
        .into_iter()
        .enumerate()
        .map(|(i, doc)| {
            Entity::from_json(doc).map_err(|error| DocumentError {
                document: i + 1,
                error,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_file_keeps_valid_entities_and_reports_bad_ones() {
        let text = "\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: a}
spec: {type: service, owner: x, lifecycle: production}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: 'bad name'}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: x}
spec: {type: team, children: []}
";
        let docs = parse_descriptors(text).unwrap();
        assert_eq!(docs.len(), 3);
        assert!(docs[0].is_ok());
        let e = docs[1].as_ref().unwrap_err();
        assert_eq!(e.document, 2);
        assert_eq!(e.error.field, "metadata.name");
        assert!(docs[2].is_ok());
    }

    #[test]
    fn invalid_yaml_fails_the_file_with_a_position() {
        let err = parse_descriptors("kind: [unclosed\nmetadata: x\n").unwrap_err();
        let DescriptorError::Yaml(msg) = err else {
            panic!("{err:?}")
        };
        assert!(msg.contains("line"), "{msg}");
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        assert!(parse_descriptors("kind: A\nkind: B\n").is_err());
    }

    #[test]
    fn oversized_files_are_rejected() {
        let big = "#".repeat(MAX_DESCRIPTOR_BYTES + 1);
        assert!(matches!(
            parse_descriptors(&big),
            Err(DescriptorError::TooLarge { .. })
        ));
    }
}
