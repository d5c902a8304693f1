//! A small histogram gradient-boosted regression tree learner (L2 loss).
//!
//! Features are cut into at most `max_bins` quantile bins plus one bin for missing values (NaN),
//! stored as `u8` columns. Trees grow leaf-wise (best gain first, like LightGBM) up to
//! `max_leaves` leaves and `max_depth` levels; each split learns which side missing values go.
//! The histogram of the smaller child is built from its rows and the larger one's is the parent's
//! minus it. Rounds stop early when the error on a validation set (a time-ordered tail, chosen by
//! the caller) has not improved for `early_stopping_rounds`; the model keeps the best round.
//! Prediction walks raw `f64` rows, so forecasting needs no binning.

use serde::{Deserialize, Serialize};

use super::{Error, Result};

/// Learner settings. Defaults are LightGBM-like (31 leaves, shrinkage 0.1) with early stopping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GbdtParams {
    /// Shrinkage applied to every leaf value.
    pub learning_rate: f64,
    /// Leaves per tree.
    pub max_leaves: usize,
    /// Levels per tree.
    pub max_depth: usize,
    /// Fewest training rows in a leaf.
    pub min_data_in_leaf: usize,
    /// L2 penalty on leaf values.
    pub lambda_l2: f64,
    /// Value bins per feature (2–254); one more bin holds missing values.
    pub max_bins: usize,
    /// Most boosting rounds.
    pub max_rounds: usize,
    /// Stop when the validation error has not improved for this many rounds.
    pub early_stopping_rounds: usize,
}

impl Default for GbdtParams {
    fn default() -> Self {
        Self {
            learning_rate: 0.1,
            max_leaves: 31,
            max_depth: 8,
            min_data_in_leaf: 20,
            lambda_l2: 1.0,
            max_bins: 63,
            max_rounds: 500,
            early_stopping_rounds: 25,
        }
    }
}

/// A dense row-major feature matrix; NaN marks a missing value.
#[derive(Clone, Debug, Default)]
pub struct Matrix {
    n_features: usize,
    values: Vec<f64>,
}

impl Matrix {
    /// An empty matrix with `n_features` columns.
    pub fn new(n_features: usize) -> Self {
        Self { n_features, values: Vec::new() }
    }

    /// Appends one row; its length must equal the column count.
    pub fn push_row(&mut self, row: &[f64]) -> Result<()> {
        if row.len() != self.n_features {
            return Err(Error::InvalidInput(format!(
                "row has {} values, matrix has {} columns",
                row.len(),
                self.n_features
            )));
        }
        self.values.extend_from_slice(row);
        Ok(())
    }

    /// Rows held.
    pub fn n_rows(&self) -> usize {
        self.values.len().checked_div(self.n_features).unwrap_or(0)
    }

    /// Columns.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Row `i` (panics only on a caller's out-of-range index, never on data).
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.n_features..(i + 1) * self.n_features]
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Node {
    Split { feature: u32, threshold: f64, bin: u8, missing_left: bool, left: u32, right: u32 },
    Leaf(f64),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn predict(&self, row: &[f64]) -> f64 {
        let mut at = 0usize;
        loop {
            match self.nodes.get(at) {
                Some(Node::Leaf(v)) => return *v,
                Some(Node::Split { feature, threshold, missing_left, left, right, .. }) => {
                    let x = row.get(*feature as usize).copied().unwrap_or(f64::NAN);
                    let go_left = if x.is_nan() { *missing_left } else { x <= *threshold };
                    at = if go_left { *left } else { *right } as usize;
                }
                None => return 0.0,
            }
        }
    }

    fn predict_binned(&self, bins: &Binned, row: usize) -> f64 {
        let mut at = 0usize;
        loop {
            match self.nodes.get(at) {
                Some(Node::Leaf(v)) => return *v,
                Some(Node::Split { feature, bin, missing_left, left, right, .. }) => {
                    let f = *feature as usize;
                    let b = bins.get(f, row);
                    let go_left = if b == bins.missing_bin(f) { *missing_left } else { b <= *bin };
                    at = if go_left { *left } else { *right } as usize;
                }
                None => return 0.0,
            }
        }
    }
}

/// A trained ensemble.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Gbdt {
    base: f64,
    trees: Vec<Tree>,
    gain_by_feature: Vec<f64>,
}

impl Gbdt {
    /// Prediction for one raw row.
    pub fn predict(&self, row: &[f64]) -> f64 {
        self.base + self.trees.iter().map(|t| t.predict(row)).sum::<f64>()
    }

    /// The starting value (mean training target) every tree adds to.
    pub fn base(&self) -> f64 {
        self.base
    }

    /// Boosting rounds kept.
    pub fn rounds(&self) -> usize {
        self.trees.len()
    }

    /// Total split gain per feature (importance).
    pub fn gain_by_feature(&self) -> &[f64] {
        &self.gain_by_feature
    }

    /// Trains on `train` / `targets`; `valid` drives early stopping when given.
    pub fn fit(train: &Matrix, targets: &[f64], valid: Option<(&Matrix, &[f64])>, params: &GbdtParams) -> Result<Self> {
        check_params(params)?;
        let n = train.n_rows();
        if targets.len() != n || n < 2 * params.min_data_in_leaf.max(1) {
            return Err(Error::InvalidInput(format!(
                "training needs at least {} rows and one target per row (got {n} rows, {} targets)",
                2 * params.min_data_in_leaf.max(1),
                targets.len()
            )));
        }
        if targets.iter().any(|y| !y.is_finite()) {
            return Err(Error::InvalidInput("training targets must be finite".into()));
        }
        if let Some((m, y)) = valid
            && (m.n_features() != train.n_features() || m.n_rows() != y.len() || y.iter().any(|v| !v.is_finite()))
        {
            return Err(Error::InvalidInput(
                "validation rows must match the training columns and have finite targets".into(),
            ));
        }
        let mappers: Vec<BinMapper> =
            (0..train.n_features()).map(|f| BinMapper::fit(train, f, params.max_bins)).collect();
        let binned = Binned::new(train, &mappers);
        let valid_binned = valid.map(|(m, y)| (Binned::new(m, &mappers), y));

        let base = targets.iter().sum::<f64>() / n as f64;
        let mut pred = vec![base; n];
        let mut valid_pred = valid_binned.as_ref().map(|(_, y)| vec![base; y.len()]);
        let mut grower = Grower::new(&binned, params);
        let mut trees = Vec::new();
        let mut gain_by_feature = vec![0.0; train.n_features()];
        let mut best = (f64::INFINITY, 0usize);
        let mut gradients = vec![0.0; n];
        for round in 0..params.max_rounds {
            for i in 0..n {
                gradients[i] = pred[i] - targets[i];
            }
            let Some(tree) = grower.grow(&gradients, &mappers, &mut pred, &mut gain_by_feature) else {
                break;
            };
            if let (Some((vb, vy)), Some(vp)) = (valid_binned.as_ref(), valid_pred.as_mut()) {
                let mut sse = 0.0;
                for (r, p) in vp.iter_mut().enumerate() {
                    *p += tree.predict_binned(vb, r);
                    sse += (*p - vy[r]).powi(2);
                }
                trees.push(tree);
                if sse < best.0 {
                    best = (sse, round + 1);
                } else if round + 1 - best.1 >= params.early_stopping_rounds {
                    break;
                }
            } else {
                trees.push(tree);
                best.1 = round + 1;
            }
        }
        trees.truncate(best.1);
        Ok(Self { base, trees, gain_by_feature })
    }
}

fn check_params(p: &GbdtParams) -> Result<()> {
    let ok = p.learning_rate > 0.0
        && p.learning_rate.is_finite()
        && p.max_leaves >= 2
        && p.max_depth >= 1
        && (2..=254).contains(&p.max_bins)
        && p.lambda_l2 >= 0.0
        && p.early_stopping_rounds >= 1;
    if ok { Ok(()) } else { Err(Error::InvalidInput(format!("invalid tree parameters {p:?}"))) }
}

/// Quantile cut points of one feature: value `x` falls in bin `#(edges < x)`.
struct BinMapper {
    edges: Vec<f64>,
}

impl BinMapper {
    fn fit(m: &Matrix, feature: usize, max_bins: usize) -> Self {
        let n = m.n_rows();
        let stride = (n / 50_000).max(1);
        let mut values: Vec<f64> = (0..n).step_by(stride).map(|i| m.row(i)[feature]).filter(|v| !v.is_nan()).collect();
        values.sort_by(f64::total_cmp);
        let mut distinct = values.clone();
        distinct.dedup();
        let edges = if distinct.len() <= max_bins {
            distinct.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect()
        } else {
            let mut edges: Vec<f64> = Vec::with_capacity(max_bins);
            for j in 1..max_bins {
                let q = values[j * values.len() / max_bins];
                if edges.last().is_none_or(|&last| q > last) && q < values[values.len() - 1] {
                    edges.push(q);
                }
            }
            edges
        };
        Self { edges }
    }

    fn bin(&self, x: f64) -> u8 {
        if x.is_nan() { self.missing_bin() } else { self.edges.partition_point(|&e| e < x) as u8 }
    }

    fn missing_bin(&self) -> u8 {
        (self.edges.len() + 1) as u8
    }

    /// Raw threshold of a split after value bin `b` (`+inf` when every value goes left).
    fn threshold(&self, b: u8) -> f64 {
        self.edges.get(b as usize).copied().unwrap_or(f64::INFINITY)
    }
}

/// Column-major bin codes.
struct Binned {
    n_rows: usize,
    codes: Vec<u8>,
    missing: Vec<u8>,
    offsets: Vec<usize>,
}

impl Binned {
    fn new(m: &Matrix, mappers: &[BinMapper]) -> Self {
        let n = m.n_rows();
        let mut codes = vec![0u8; n * mappers.len()];
        for i in 0..n {
            let row = m.row(i);
            for (f, mapper) in mappers.iter().enumerate() {
                codes[f * n + i] = mapper.bin(row[f]);
            }
        }
        let missing: Vec<u8> = mappers.iter().map(BinMapper::missing_bin).collect();
        let mut offsets = Vec::with_capacity(mappers.len() + 1);
        let mut total = 0;
        for &mb in &missing {
            offsets.push(total);
            total += mb as usize + 1;
        }
        offsets.push(total);
        Self { n_rows: n, codes, missing, offsets }
    }

    fn get(&self, feature: usize, row: usize) -> u8 {
        self.codes[feature * self.n_rows + row]
    }

    fn missing_bin(&self, feature: usize) -> u8 {
        self.missing[feature]
    }

    fn column(&self, feature: usize) -> &[u8] {
        &self.codes[feature * self.n_rows..(feature + 1) * self.n_rows]
    }
}

#[derive(Clone, Copy)]
struct SplitCandidate {
    gain: f64,
    feature: usize,
    bin: u8,
    missing_left: bool,
}

struct Leaf {
    start: usize,
    end: usize,
    sum_g: f64,
    depth: usize,
    node: usize,
    hist: Vec<f64>,
    split: Option<SplitCandidate>,
}

/// Reusable buffers for growing trees on one binned data set.
struct Grower<'a> {
    binned: &'a Binned,
    params: &'a GbdtParams,
    indices: Vec<u32>,
    gathered: Vec<f64>,
}

impl<'a> Grower<'a> {
    fn new(binned: &'a Binned, params: &'a GbdtParams) -> Self {
        Self { binned, params, indices: Vec::with_capacity(binned.n_rows), gathered: Vec::new() }
    }

    /// Grows one tree on `gradients`, adds its leaf values to `pred`; `None` when nothing splits.
    fn grow(&mut self, gradients: &[f64], mappers: &[BinMapper], pred: &mut [f64], gains: &mut [f64]) -> Option<Tree> {
        let n = self.binned.n_rows;
        self.indices.clear();
        self.indices.extend(0..n as u32);
        let mut nodes = vec![Node::Leaf(0.0)];
        let root_hist = self.histogram(0, n, gradients);
        let sum_g: f64 = gradients.iter().sum();
        let mut root = Leaf { start: 0, end: n, sum_g, depth: 0, node: 0, hist: root_hist, split: None };
        root.split = self.best_split(&root);
        let mut leaves = vec![root];
        while leaves.len() < self.params.max_leaves {
            let Some((pos, cand)) = leaves
                .iter()
                .enumerate()
                .filter_map(|(i, l)| l.split.map(|s| (i, s)))
                .max_by(|a, b| a.1.gain.total_cmp(&b.1.gain))
            else {
                break;
            };
            let parent = leaves.swap_remove(pos);
            let mid = self.partition(&parent, cand);
            let left_node = nodes.len();
            nodes.push(Node::Leaf(0.0));
            nodes.push(Node::Leaf(0.0));
            nodes[parent.node] = Node::Split {
                feature: cand.feature as u32,
                threshold: mappers[cand.feature].threshold(cand.bin),
                bin: cand.bin,
                missing_left: cand.missing_left,
                left: left_node as u32,
                right: left_node as u32 + 1,
            };
            gains[cand.feature] += cand.gain;
            let left_sum: f64 = self.indices[parent.start..mid].iter().map(|&i| gradients[i as usize]).sum();
            let (small_start, small_end, small_is_left) = if mid - parent.start <= parent.end - mid {
                (parent.start, mid, true)
            } else {
                (mid, parent.end, false)
            };
            let small_hist = self.histogram(small_start, small_end, gradients);
            let mut large_hist = parent.hist;
            for (l, s) in large_hist.iter_mut().zip(&small_hist) {
                *l -= s;
            }
            let (left_hist, right_hist) =
                if small_is_left { (small_hist, large_hist) } else { (large_hist, small_hist) };
            for (start, end, sum_g, hist, node) in [
                (parent.start, mid, left_sum, left_hist, left_node),
                (mid, parent.end, parent.sum_g - left_sum, right_hist, left_node + 1),
            ] {
                let mut leaf = Leaf { start, end, sum_g, depth: parent.depth + 1, node, hist, split: None };
                leaf.split = self.best_split(&leaf);
                leaves.push(leaf);
            }
        }
        if nodes.len() == 1 {
            return None;
        }
        let lr = self.params.learning_rate;
        for leaf in &leaves {
            let value = -lr * leaf.sum_g / ((leaf.end - leaf.start) as f64 + self.params.lambda_l2);
            nodes[leaf.node] = Node::Leaf(value);
            for &i in &self.indices[leaf.start..leaf.end] {
                pred[i as usize] += value;
            }
        }
        Some(Tree { nodes })
    }

    /// Gradient sums and counts per bin (interleaved) for rows `indices[start..end]`.
    fn histogram(&mut self, start: usize, end: usize, gradients: &[f64]) -> Vec<f64> {
        let b = self.binned;
        let mut hist = vec![0.0; 2 * b.offsets[b.offsets.len() - 1]];
        let rows = &self.indices[start..end];
        self.gathered.clear();
        self.gathered.extend(rows.iter().map(|&i| gradients[i as usize]));
        for f in 0..b.missing.len() {
            let column = b.column(f);
            let h = &mut hist[2 * b.offsets[f]..2 * b.offsets[f + 1]];
            for (&i, &g) in rows.iter().zip(&self.gathered) {
                let bin = 2 * column[i as usize] as usize;
                h[bin] += g;
                h[bin + 1] += 1.0;
            }
        }
        hist
    }

    fn best_split(&self, leaf: &Leaf) -> Option<SplitCandidate> {
        let p = self.params;
        let n = (leaf.end - leaf.start) as f64;
        let min = p.min_data_in_leaf.max(1) as f64;
        if leaf.depth >= p.max_depth || n < 2.0 * min {
            return None;
        }
        let lambda = p.lambda_l2;
        let parent_score = leaf.sum_g * leaf.sum_g / (n + lambda);
        let b = self.binned;
        let mut best: Option<SplitCandidate> = None;
        for f in 0..b.missing.len() {
            let h = &leaf.hist[2 * b.offsets[f]..2 * b.offsets[f + 1]];
            let missing = b.missing[f] as usize;
            let (miss_g, miss_n) = (h[2 * missing], h[2 * missing + 1]);
            let (mut acc_g, mut acc_n) = (0.0, 0.0);
            for bin in 0..missing {
                acc_g += h[2 * bin];
                acc_n += h[2 * bin + 1];
                for missing_left in [false, true] {
                    if missing_left && miss_n == 0.0 {
                        continue;
                    }
                    let (lg, ln) = if missing_left { (acc_g + miss_g, acc_n + miss_n) } else { (acc_g, acc_n) };
                    let (rg, rn) = (leaf.sum_g - lg, n - ln);
                    if ln < min || rn < min {
                        continue;
                    }
                    let gain = lg * lg / (ln + lambda) + rg * rg / (rn + lambda) - parent_score;
                    if gain > 1e-12 && best.is_none_or(|c| gain > c.gain) {
                        best = Some(SplitCandidate { gain, feature: f, bin: bin as u8, missing_left });
                    }
                }
            }
        }
        best
    }

    /// Reorders `indices[start..end]` so rows going left come first; returns the boundary.
    fn partition(&mut self, leaf: &Leaf, split: SplitCandidate) -> usize {
        let column = self.binned.column(split.feature);
        let missing = self.binned.missing[split.feature];
        let goes_left = |i: u32| {
            let b = column[i as usize];
            if b == missing { split.missing_left } else { b <= split.bin }
        };
        let rows = &mut self.indices[leaf.start..leaf.end];
        let mut mid = 0;
        for k in 0..rows.len() {
            if goes_left(rows[k]) {
                rows.swap(mid, k);
                mid += 1;
            }
        }
        leaf.start + mid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(state: &mut u64) -> f64 {
        *state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    fn data(n: usize, seed: u64) -> (Matrix, Vec<f64>) {
        let mut s = seed;
        let mut m = Matrix::new(3);
        let mut y = Vec::new();
        for _ in 0..n {
            let a = lcg(&mut s) * 4.0 - 2.0;
            let b = lcg(&mut s);
            let noise = lcg(&mut s) * 4.0 - 2.0;
            // Missing `a` carries information: the target is 5 there.
            let missing = lcg(&mut s) < 0.1;
            let target = if missing { 5.0 } else { (a * 1.5).sin() * 2.0 + if b > 0.5 { 1.0 } else { 0.0 } };
            m.push_row(&[if missing { f64::NAN } else { a }, b, noise]).unwrap();
            y.push(target);
        }
        (m, y)
    }

    #[test]
    fn learns_a_nonlinear_function_with_missing_values() {
        let (train, y) = data(4000, 1);
        let (valid, vy) = data(1000, 2);
        let (test, ty) = data(1000, 3);
        let model = Gbdt::fit(&train, &y, Some((&valid, &vy)), &GbdtParams::default()).unwrap();
        let mse: f64 =
            (0..test.n_rows()).map(|i| (model.predict(test.row(i)) - ty[i]).powi(2)).sum::<f64>() / ty.len() as f64;
        let var: f64 = {
            let mean = ty.iter().sum::<f64>() / ty.len() as f64;
            ty.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / ty.len() as f64
        };
        assert!(mse < 0.02 * var, "mse {mse} var {var}");
        // The noise column earns far less gain than the two real ones.
        let gains = model.gain_by_feature();
        assert!(gains[2] < 0.05 * gains[0] && gains[2] < 0.05 * gains[1], "{gains:?}");
    }

    #[test]
    fn early_stopping_keeps_few_rounds_on_pure_noise() {
        let mut s = 7;
        let mut m = Matrix::new(2);
        let mut y = Vec::new();
        for _ in 0..2000 {
            m.push_row(&[lcg(&mut s), lcg(&mut s)]).unwrap();
            y.push(lcg(&mut s));
        }
        let (train_rows, valid_rows) = (1500, 500);
        let mut train = Matrix::new(2);
        let mut valid = Matrix::new(2);
        for i in 0..train_rows {
            train.push_row(m.row(i)).unwrap();
        }
        for i in train_rows..train_rows + valid_rows {
            valid.push_row(m.row(i)).unwrap();
        }
        let model =
            Gbdt::fit(&train, &y[..train_rows], Some((&valid, &y[train_rows..])), &GbdtParams::default()).unwrap();
        assert!(model.rounds() < 20, "kept {} rounds on noise", model.rounds());
    }

    #[test]
    fn bad_input_is_an_error() {
        let (m, y) = data(100, 4);
        assert!(Gbdt::fit(&m, &y[..50], None, &GbdtParams::default()).is_err());
        let mut bad = y.clone();
        bad[3] = f64::NAN;
        assert!(Gbdt::fit(&m, &bad, None, &GbdtParams::default()).is_err());
        let params = GbdtParams { max_bins: 1000, ..GbdtParams::default() };
        assert!(Gbdt::fit(&m, &y, None, &params).is_err());
        assert!(Matrix::new(3).push_row(&[1.0]).is_err());
    }

    #[test]
    fn constant_target_gives_a_constant_model() {
        let (m, _) = data(200, 5);
        let y = vec![2.5; 200];
        let model = Gbdt::fit(&m, &y, None, &GbdtParams::default()).unwrap();
        assert_eq!(model.rounds(), 0);
        assert_eq!(model.predict(m.row(0)), 2.5);
    }
}
