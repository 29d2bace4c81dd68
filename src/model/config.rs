//! Hyper-parameters of the head. Every gap the paper leaves open is a named field here with
//! a documented default; `docs/model.md` explains each choice.
use serde::{Deserialize, Serialize};

/// How raw segment features are normalised before the head (statistics are fitted on the
/// training set and stored in the checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputNorm {
    /// Features are used as they are.
    None,
    /// Subtract a global per-dimension mean, divide by a global per-dimension std.
    GlobalStandard,
    /// Subtract the video's own per-dimension median, divide by a global per-dimension
    /// scale (std of the median-centred training features). DESIGN §4: mattered most.
    VideoMedian,
}

/// How the category weights w are formed from the per-category anomaly probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryWeighting {
    /// w = softmax_c(p_anom / τ_w) (the paper's soft classification).
    Soft,
    /// w = 1/C: prototypes are injected but the classifier does not steer them
    /// (the "+category injection" ablation row; the classifier is still trained by L_cat).
    Uniform,
    /// w = one-hot(argmax p_anom): hard classification.
    HardArgmax,
}

/// Architecture and ablation switches of [`crate::model::RefineVad`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadConfig {
    /// Input width D (set from the feature layout).
    pub input_dim: usize,
    /// Number of anomaly categories C (no "normal" category).
    pub num_categories: usize,
    /// Model width d after the input projection.
    pub d_model: usize,
    /// Input normalisation (preprocessing, fitted statistics stored in the checkpoint).
    pub input_norm: InputNorm,
    /// Widths of the feature streams in order (from the layout; used by
    /// `stream_layernorm`). Empty = one stream.
    pub stream_widths: Vec<usize>,
    /// Rescale each stream so all streams carry equal total energy (a 1280-d CNN stream
    /// does not drown a 50-d motion stream, neither in the projection nor in m_t).
    pub stream_balance: bool,
    /// LayerNorm each stream's slice (per segment) before the projection. Off by default:
    /// it erases per-segment magnitude, which is itself an anomaly cue.
    pub stream_layernorm: bool,
    /// Dropout used after the projection, inside the encoder and in CORE.
    pub dropout: f32,

    // ---- MoTAR ----
    /// Skip MoTAR (no shift, no encoder): the "Base"/"CORE only" ablation rows.
    pub no_motar: bool,
    /// Hidden width of the 3-layer GELU gate MLP.
    pub gate_hidden: usize,
    /// Fold divisor K: at most d/K channels come from each neighbour.
    pub shift_fold: usize,
    /// Gate input: standardised ln(m_t + eps) (true) or raw m_t (false, the paper's form).
    pub gate_log_motion: bool,
    /// Clip of the standardised gate input (m_1 = 0 would be -inf after the log).
    pub gate_input_clip: f32,
    /// Width (in channels) of the sigmoid ramp of the soft channel mask.
    pub shift_ramp: f32,
    /// Add the unshifted features back after the shift (y = h + shift(h)), so a channel
    /// block holds h_t + h_{t±1} and temporal change stays visible to the encoder.
    pub shift_residual: bool,
    /// Also inject the gate into the features: y_t += r_t·e_r with a learned vector e_r.
    /// Our addition (not in the paper): it gives the gate MLP a direct gradient path, so
    /// r_t measurably learns a function of motion; `false` = paper-literal MoTAR.
    pub gate_embedding: bool,
    /// Literal floor() shift during training too (the gate then gets no gradient).
    pub hard_shift_train: bool,
    /// floor() shift at inference (training keeps the soft mask unless `hard_shift_train`).
    pub hard_shift_infer: bool,
    /// Transformer encoder layers (pre-LN) after the shift.
    pub encoder_layers: usize,
    /// Attention heads (encoder and CORE cross-attention).
    pub heads: usize,
    /// Encoder feed-forward width as a multiple of d.
    pub ffn_mult: usize,

    // ---- CORE ----
    /// Skip CORE: scores come straight from the scoring MLP (rows Base / +MoTAR).
    pub no_core: bool,
    /// How w is formed (`--no-soft-classification` selects `uniform`).
    pub weighting: CategoryWeighting,
    /// Temperature τ_w of w = softmax(p_anom / τ_w).
    pub weight_temperature: f32,
    /// Add the ground-truth prototype e_y to v for abnormal training videos.
    pub teacher_prototype: bool,
    /// Width of the prototype vectors before projection to d (= d when random init,
    /// = the text-embedding width when initialised from text embeddings).
    pub prototype_dim: usize,
    /// Hidden width of the scoring MLP.
    pub score_hidden: usize,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            input_dim: 0,
            num_categories: 0,
            d_model: 128,
            input_norm: InputNorm::VideoMedian,
            stream_widths: vec![],
            stream_balance: true,
            stream_layernorm: false,
            dropout: 0.1,
            no_motar: false,
            gate_hidden: 32,
            shift_fold: 8,
            gate_log_motion: true,
            gate_input_clip: 4.0,
            shift_ramp: 2.0,
            shift_residual: false,
            gate_embedding: true,
            hard_shift_train: false,
            hard_shift_infer: false,
            encoder_layers: 1,
            heads: 4,
            ffn_mult: 2,
            no_core: false,
            weighting: CategoryWeighting::Soft,
            weight_temperature: 0.1,
            teacher_prototype: true,
            prototype_dim: 128,
            score_hidden: 64,
        }
    }
}

impl HeadConfig {
    /// Checks widths and switches; called by the model constructor.
    pub fn validate(&self) -> Result<(), String> {
        if self.input_dim == 0 {
            return Err("input_dim must be > 0".into());
        }
        if self.d_model == 0 || self.heads == 0 || self.d_model % self.heads != 0 {
            return Err(format!("d_model {} must be a positive multiple of heads {}", self.d_model, self.heads));
        }
        if self.shift_fold < 2 {
            return Err("shift_fold must be >= 2".into());
        }
        if !self.no_core && self.num_categories == 0 {
            return Err("CORE needs at least one anomaly category (or set no_core)".into());
        }
        if self.weight_temperature.is_nan() || self.weight_temperature <= 0.0 {
            return Err("weight_temperature must be > 0".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err("dropout must be in [0, 1)".into());
        }
        Ok(())
    }
}
