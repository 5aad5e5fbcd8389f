//! Coarse codes for the first stage of a two-stage nearest-neighbour search: each vector,
//! centred, is projected on the collection's principal axes ([`pca`](super::pca)) and each
//! coordinate is kept in 4 bits, so 96 axes take 48 bytes instead of 256 for int8.
//!
//! Why this shape: on the built-in embedder's vectors, ranking by these codes puts ~99% of
//! the exact top 10 within the best 0.2-2% of a collection, which the second stage rescores
//! with the int8 codes; a one-bit sign sketch of all 256 dimensions (32 bytes) needed 20% of
//! the collection for the same recall. The query stays unquantised on its side of the
//! product (asymmetric distance), which is where most of the accuracy comes from.
//!
//! Ranking by `q·v` equals ranking by `q·(v-μ)` (the `q·μ` term is the same for every
//! document), and `q·(v-μ) ≈ Σᵢ (q·aᵢ)(aᵢ·(v-μ))` over the principal axes `aᵢ`, so the score
//! of a document is `Σᵢ wᵢ cᵢ` with its codes `cᵢ` and per-query weights `wᵢ`.

use super::super::dense::dot;
use super::pca::principal_axes;

/// Principal axes kept (fewer when the vectors are shorter).
const AXES: usize = 96;
/// Vectors sampled to find the axes and their ranges.
const SAMPLE: usize = 8_192;
/// Coordinates are clipped this many standard deviations from their mean.
const CLIP: f32 = 2.5;
/// Largest query weight, so `15 * weight` summed over the axes fits an `i32` easily.
const WEIGHT_MAX: f32 = 2_000.0;
/// Scopes from this many documents are scanned by two threads.
const PARALLEL_MIN: usize = 65_536;

/// 4-bit codes of every document on the principal axes.
#[derive(Debug, Clone)]
pub(crate) struct CoarseCodes {
    /// Bytes per document (two axes a byte, padded to a multiple of 16).
    bytes: usize,
    axes: Vec<Vec<f32>>,
    /// How documents were encoded (per axis: the coordinate of code 0, the step between
    /// codes).
    projector: Projector,
    codes: Vec<u8>,
}

impl CoarseCodes {
    /// Codes for the `n` documents of an int8 index (`codes` is `n` rows of `mean.len()`
    /// codes, each row standing for `row * scales[d]`), centred on `mean`.
    pub fn build(codes: &[i8], scales: &[f32], mean: Vec<f32>) -> CoarseCodes {
        let dims = mean.len();
        let n = scales.len();
        let row = |d: usize| -> Vec<f32> {
            let scale = scales[d];
            codes[d * dims..(d + 1) * dims]
                .iter()
                .zip(&mean)
                .map(|(&c, m)| f32::from(c) * scale - m)
                .collect()
        };
        let stride = n.div_ceil(SAMPLE).max(1);
        let sample: Vec<Vec<f32>> = (0..n).step_by(stride).map(row).collect();
        let axes = principal_axes(&sample, dims, AXES.min(dims));
        let (low, step) = ranges(&sample, &axes);
        // At most 96 axes: 3 chunks of 16 bytes (see `Weights::scan`).
        let bytes = axes.len().div_ceil(2).div_ceil(16) * 16;
        let project = Projector::new(&axes, &mean, &low, &step);
        let mut out = vec![0u8; n * bytes];
        // Two threads: at a million documents this is ~100 million int8 dot products.
        let half = n.div_ceil(2) * bytes;
        let (first, second) = out.split_at_mut(half.min(n * bytes));
        std::thread::scope(|scope| {
            let project = &project;
            scope.spawn(move || project.encode(codes, scales, 0, first, bytes));
            project.encode(codes, scales, half / bytes, second, bytes);
        });
        CoarseCodes {
            bytes,
            axes,
            projector: project,
            codes: out,
        }
    }

    /// Appends the codes of one more document (an int8 row and its scale), on the axes
    /// found at the build.
    pub fn push(&mut self, row: &[i8], scale: f32) {
        let at = self.codes.len();
        self.codes.resize(at + self.bytes, 0);
        self.projector
            .encode(row, &[scale], 0, &mut self.codes[at..], self.bytes);
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.codes.len().checked_div(self.bytes).unwrap_or(0)
    }

    /// The `want` documents whose codes score best against `query` (normalised), or all of
    /// them when there are fewer, in no particular order.
    pub fn nearest(&self, query: &[f32], want: usize) -> Vec<u32> {
        let n = self.len();
        if want >= n {
            return (0..n as u32).collect();
        }
        let w = self.weights(query);
        let mut scores = vec![0i32; n];
        if n < PARALLEL_MIN {
            w.scan(&self.codes, &mut scores);
        } else {
            // Two threads, one half each: the scan is most of a large scope's search.
            let half = n.div_ceil(2);
            let (codes_a, codes_b) = self.codes.split_at(half * self.bytes);
            let (scores_a, scores_b) = scores.split_at_mut(half);
            std::thread::scope(|scope| {
                let w = &w;
                scope.spawn(move || w.scan(codes_a, scores_a));
                w.scan(codes_b, scores_b);
            });
        }
        best(&scores, want)
    }

    /// Integer weights of the even and odd axes (low and high nibbles) for `query`.
    fn weights(&self, query: &[f32]) -> Weights {
        let w: Vec<f32> = self
            .axes
            .iter()
            .zip(&self.projector.step)
            .map(|(a, s)| dot(a, query) * s)
            .collect();
        let max = w.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { WEIGHT_MAX / max } else { 0.0 };
        let chunks = self.bytes / 16;
        let mut even = vec![[0i16; 16]; chunks];
        let mut odd = vec![[0i16; 16]; chunks];
        for (i, x) in w.iter().enumerate() {
            let q = (x * scale).round() as i16;
            let byte = i / 2;
            if i.is_multiple_of(2) {
                even[byte / 16][byte % 16] = q;
            } else {
                odd[byte / 16][byte % 16] = q;
            }
        }
        Weights { even, odd }
    }

    /// The coordinate a code stands for on axis `i`.
    #[cfg(test)]
    pub fn decode(&self, doc: usize, i: usize) -> f32 {
        let byte = self.codes[doc * self.bytes + i / 2];
        let c = if i.is_multiple_of(2) {
            byte & 15
        } else {
            byte >> 4
        };
        self.projector.low[i] + self.projector.step[i] * f32::from(c)
    }
}

/// Projects int8 rows on the axes and quantises the coordinates to 4 bits.
#[derive(Debug, Clone)]
struct Projector {
    dims: usize,
    /// The axes as int8, with their scales.
    axes: Vec<Vec<i8>>,
    axis_scale: Vec<f32>,
    /// Per axis: its dot product with the mean (subtracted to centre).
    offset: Vec<f32>,
    low: Vec<f32>,
    step: Vec<f32>,
}

impl Projector {
    fn new(axes: &[Vec<f32>], mean: &[f32], low: &[f32], step: &[f32]) -> Projector {
        let (codes, scales) = axes.iter().map(|a| super::quantize(a)).unzip();
        Projector {
            dims: mean.len(),
            axes: codes,
            // `quantize` folds in 1/|a|, and the axes are unit vectors.
            axis_scale: scales,
            offset: axes.iter().map(|a| dot(a, mean)).collect(),
            low: low.to_vec(),
            step: step.to_vec(),
        }
    }

    /// Fills `out` (rows of `bytes`) with the codes of the documents from `first` on.
    fn encode(&self, codes: &[i8], scales: &[f32], first: usize, out: &mut [u8], bytes: usize) {
        for (i, slot) in out.chunks_exact_mut(bytes).enumerate() {
            let d = first + i;
            let row = &codes[d * self.dims..(d + 1) * self.dims];
            for (a, axis) in self.axes.iter().enumerate() {
                let x = super::dot_i8(row, axis) as f32 * scales[d] * self.axis_scale[a]
                    - self.offset[a];
                let c = ((x - self.low[a]) / self.step[a]).round().clamp(0.0, 15.0) as u8;
                slot[a / 2] |= if a.is_multiple_of(2) { c } else { c << 4 };
            }
        }
    }
}

/// Per axis, the low end of the clipped range and the step of one code.
fn ranges(sample: &[Vec<f32>], axes: &[Vec<f32>]) -> (Vec<f32>, Vec<f32>) {
    let n = sample.len().max(1) as f32;
    axes.iter()
        .map(|a| {
            let xs: Vec<f32> = sample.iter().map(|v| dot(a, v)).collect();
            let mean = xs.iter().sum::<f32>() / n;
            let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n).sqrt();
            let sd = if sd > 0.0 { sd } else { 1e-6 };
            (mean - CLIP * sd, 2.0 * CLIP * sd / 15.0)
        })
        .unzip()
}

/// A query's integer weights, 16 bytes of codes (32 axes) per chunk.
struct Weights {
    even: Vec<[i16; 16]>,
    odd: Vec<[i16; 16]>,
}

impl Weights {
    /// The score of every row of `codes` into `out`.
    fn scan(&self, codes: &[u8], out: &mut [i32]) {
        // A fixed chunk count lets the compiler vectorise each row as a whole (a loop over
        // a runtime number of chunks ran several times slower).
        match self.even.len() {
            1 => scan_rows::<1>(codes, &self.even, &self.odd, out),
            2 => scan_rows::<2>(codes, &self.even, &self.odd, out),
            _ => scan_rows::<3>(codes, &self.even, &self.odd, out),
        }
    }
}

/// `Σ even·low_nibble + odd·high_nibble` of each row of `C` 16-byte chunks.
fn scan_rows<const C: usize>(codes: &[u8], even: &[[i16; 16]], odd: &[[i16; 16]], out: &mut [i32]) {
    let (Ok(even), Ok(odd)) = (
        <&[[i16; 16]; C]>::try_from(even),
        <&[[i16; 16]; C]>::try_from(odd),
    ) else {
        return;
    };
    for (row, slot) in codes.chunks_exact(16 * C).zip(out.iter_mut()) {
        let mut acc = [0i32; 16];
        for c in 0..C {
            let x = &row[c * 16..c * 16 + 16];
            for i in 0..16 {
                acc[i] += i32::from(x[i] & 15) * i32::from(even[c][i])
                    + i32::from(x[i] >> 4) * i32::from(odd[c][i]);
            }
        }
        *slot = acc.iter().sum();
    }
}

/// The `want` best-scoring documents (and any tied with the last), in document order.
/// A threshold estimated from a sample of the scores keeps the selection to one pass and a
/// small sort instead of a sort of every score.
fn best(scores: &[i32], want: usize) -> Vec<u32> {
    let step = (scores.len() / (want * 8).max(1)).clamp(1, 64);
    let mut sample: Vec<i32> = scores.iter().step_by(step).copied().collect();
    // Aim a quarter above `want`, so the sample's noise rarely leaves too few.
    let rank = (want + want / 4).div_ceil(step).min(sample.len() - 1);
    let mut threshold = *sample.select_nth_unstable_by(rank, |a, b| b.cmp(a)).1;
    let mut sorted = false;
    loop {
        let mut picked: Vec<u32> = (0..scores.len() as u32)
            .filter(|&d| scores[d as usize] >= threshold)
            .collect();
        if picked.len() >= want || threshold == i32::MIN {
            if picked.len() > want {
                let by = |a: &u32, b: &u32| scores[*b as usize].cmp(&scores[*a as usize]);
                picked.select_nth_unstable_by(want - 1, by);
                let last = scores[picked[want - 1] as usize];
                picked.retain(|&d| scores[d as usize] >= last);
                picked.sort_unstable();
            }
            return picked;
        }
        if !sorted {
            sample.sort_unstable_by(|a, b| b.cmp(a));
            sorted = true;
        }
        threshold = match sample.iter().find(|&&s| s < threshold) {
            Some(&lower) => lower,
            None => i32::MIN,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_within_a_step_and_rank_like_the_vectors() {
        // 40 documents in 6 dimensions, varying mostly along the first two.
        let vectors: Vec<Vec<f32>> = (0..40)
            .map(|i| {
                let t = i as f32 / 40.0 * std::f32::consts::TAU;
                vec![t.cos(), t.sin(), 0.05 * (3.0 * t).sin(), 0.02, 0.01, 0.0]
            })
            .collect();
        let mut index = super::super::QuantIndex::new(6);
        vectors.iter().for_each(|v| index.push(v));
        let codes = index.coarse_codes();
        let mean: Vec<f32> = (0..6)
            .map(|d| vectors.iter().map(|v| v[d]).sum::<f32>() / 40.0)
            .collect();
        assert_eq!(codes.len(), 40);
        assert_eq!(codes.bytes, 16);
        for (d, v) in vectors.iter().enumerate() {
            let centred: Vec<f32> = v.iter().zip(&mean).map(|(x, m)| x - m).collect();
            let exact = dot(&codes.axes[0], &centred);
            // Within half a step, plus the int8 rounding of the vector and of the axis.
            assert!(
                (codes.decode(d, 0) - exact).abs() <= codes.projector.step[0] * 0.5 + 0.02,
                "doc {d}"
            );
        }
        // The query points at document 10: it and its neighbours must come first.
        let found = codes.nearest(&vectors[10], 3);
        assert_eq!(found.len(), 3);
        for d in [9, 10, 11] {
            assert!(found.contains(&d), "{found:?}");
        }
        assert_eq!(codes.nearest(&vectors[10], 99).len(), 40);
    }

    #[test]
    fn best_keeps_the_top_scores_and_their_ties() {
        let scores: Vec<i32> = (0..10_000i32).map(|i| i * 7_919 % 10_007).collect();
        let mut sorted = scores.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        for want in [1, 10, 100, 2_000, 9_999] {
            let picked = best(&scores, want);
            assert_eq!(picked.len(), want, "want {want}");
            let cut = sorted[want - 1];
            assert!(picked.iter().all(|&d| scores[d as usize] >= cut));
            assert!(picked.windows(2).all(|w| w[0] < w[1]), "document order");
        }
        // All equal: every document ties with the last one wanted.
        assert_eq!(best(&[5; 300], 10).len(), 300);
        // A sample that misses the few high scores must still find them.
        let mut spiky = vec![0i32; 5_000];
        spiky[4_321] = 9;
        spiky[17] = 8;
        assert_eq!(best(&spiky, 2), vec![17, 4_321]);
    }
}
