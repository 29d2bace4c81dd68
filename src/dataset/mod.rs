//! Readers for feature datasets (refinevad extract output, UCF-Crime, XD-Violence, CSV) and
//! annotations. [`load_list`] autodetects the list format (see `lists` for the rules);
//! [`Annotations`] parses temporal ground truth. Video names are matched across feature
//! files, annotations and score files by [`names::video_id`].
mod annotations;
mod error;
mod lists;
mod load;
pub mod names;

use std::path::PathBuf;

pub use annotations::{Annotations, VideoAnnotation};
pub use error::DatasetError;
pub use lists::load_list;
pub use load::DEFAULT_SNIPPET_FRAMES;

use crate::features::layout::FeatureLayout;

/// The features of one video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFeatures {
    /// Video id: file stem as used in annotation files (see [`names::video_id`]).
    pub name: String,
    /// Segments.
    pub t: usize,
    /// Feature width.
    pub d: usize,
    /// T×D row-major; crops averaged or one picked per [`LoadOptions::crops`].
    pub data: Vec<f32>,
    /// Anomaly category; `None` = normal.
    pub category: Option<String>,
    /// Frames per segment (sidecar value, else [`DEFAULT_SNIPPET_FRAMES`]).
    pub snippet_frames: usize,
    /// Decoded frames, when a sidecar says so.
    pub n_frames: Option<u64>,
    /// First feature file of the video (for messages).
    pub source: PathBuf,
}

impl VideoFeatures {
    /// Row `i` (one segment).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.d..(i + 1) * self.d]
    }

    pub fn is_anomalous(&self) -> bool {
        self.category.is_some()
    }
}

/// A set of videos with one feature layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub videos: Vec<VideoFeatures>,
    pub layout: FeatureLayout,
    /// Sorted anomaly category names, without "Normal".
    pub categories: Vec<String>,
}

impl Dataset {
    /// Builds a dataset, deriving `categories` from the videos.
    pub fn new(videos: Vec<VideoFeatures>, layout: FeatureLayout) -> Dataset {
        let mut d = Dataset { videos, layout, categories: Vec::new() };
        d.refresh_categories();
        d
    }

    /// Feature width D.
    pub fn width(&self) -> usize {
        self.layout.width()
    }

    /// The video with this id (or path/name normalising to it).
    pub fn get(&self, name: &str) -> Option<&VideoFeatures> {
        let id = names::video_id(name);
        self.videos.iter().find(|v| v.name == id)
    }

    /// Overrides video categories with those of `labels` for the videos it lists (an
    /// XD-style entry without a category keeps the video's own). Use it to label a bare
    /// extract directory from an annotation or `labels.csv` file.
    pub fn apply_labels(&mut self, labels: &Annotations) {
        for v in &mut self.videos {
            if let Some(a) = labels.get(&v.name) {
                if a.category.is_some() || !a.is_anomalous() {
                    v.category = a.category.clone();
                }
            }
        }
        self.refresh_categories();
    }

    fn refresh_categories(&mut self) {
        let mut c: Vec<String> = self.videos.iter().filter_map(|v| v.category.clone()).collect();
        c.sort();
        c.dedup();
        self.categories = c;
    }
}

/// Which crop(s) of multi-crop features (UCF 10-crop, XD 5-crop) make the T×D matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CropMode {
    /// Average all crops (the usual test-time choice).
    #[default]
    Mean,
    /// Use crop `k` only (e.g. a random crop per epoch for augmentation).
    Index(usize),
}

/// Options of [`load_list`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadOptions {
    pub crops: CropMode,
    /// Base directory for relative paths in lists; default: the list file's directory.
    pub root: Option<PathBuf>,
}
