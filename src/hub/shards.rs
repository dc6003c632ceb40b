//! Sharded checkpoints: `model.safetensors.index.json` / `pytorch_model.bin.index.json` name
//! the shard holding each tensor (`{"weight_map": {"tensor": "model-00001-of-00002.safetensors"}}`,
//! as transformers writes them for large models such as flan-t5-xl). Only the shard file names
//! are read here; the loader checks the tensors against the map.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

/// The parsed index: each tensor's shard, and the shards in order of first appearance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardIndex {
    pub weight_map: BTreeMap<String, String>,
    pub shards: Vec<String>,
}

impl ShardIndex {
    /// Read an index file; every shard must be a plain file name next to it.
    pub fn read(path: &Path) -> Result<Self> {
        let corrupt = |reason: String| Error::CorruptModel {
            path: path.to_path_buf(),
            reason: format!("{reason}; download the model again"),
        };
        let text =
            std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        #[derive(serde::Deserialize)]
        struct Raw {
            weight_map: BTreeMap<String, String>,
        }
        let raw: Raw = serde_json::from_slice(&text)
            .map_err(|e| corrupt(format!("not a shard index (`weight_map`): {e}")))?;
        if raw.weight_map.is_empty() {
            return Err(corrupt("the shard index maps no tensors".into()));
        }
        let mut shards: Vec<String> = Vec::new();
        // In the order the index's file names sort, which is shard order for transformers'
        // `-00001-of-0000N` names.
        let mut names: Vec<&String> = raw.weight_map.values().collect();
        names.sort();
        for shard in names {
            let plain =
                !shard.is_empty() && !shard.contains(['/', '\\']) && shard != "." && shard != "..";
            if !plain {
                return Err(corrupt(format!(
                    "shard `{shard}` is not a file name next to the index"
                )));
            }
            if shards.last() != Some(shard) {
                shards.push(shard.clone());
            }
        }
        Ok(ShardIndex {
            weight_map: raw.weight_map,
            shards,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(json: &str) -> Result<ShardIndex> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.safetensors.index.json");
        std::fs::write(&p, json).unwrap();
        ShardIndex::read(&p)
    }

    #[test]
    fn shards_are_listed_once_in_order() {
        let i = index(
            r#"{"metadata": {"total_size": 10}, "weight_map": {
                "b": "model-00002-of-00002.safetensors",
                "a": "model-00001-of-00002.safetensors",
                "c": "model-00001-of-00002.safetensors"}}"#,
        )
        .unwrap();
        assert_eq!(
            i.shards,
            [
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors"
            ]
        );
        assert_eq!(i.weight_map.len(), 3);
    }

    #[test]
    fn bad_indexes_are_clear_errors() {
        for bad in [
            "",
            "{}",
            r#"{"weight_map": {}}"#,
            r#"{"weight_map": {"a": "../escape.safetensors"}}"#,
            r#"{"weight_map": {"a": "sub/x.safetensors"}}"#,
            r#"{"weight_map": {"a": 3}}"#,
        ] {
            let e = index(bad).unwrap_err().to_string();
            assert!(e.contains("download the model again"), "{bad}: {e}");
        }
    }
}
