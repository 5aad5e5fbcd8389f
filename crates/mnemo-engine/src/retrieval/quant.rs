//! An int8 vector index for large scopes: each vector is scaled so its largest component is
//! ±127 and stored as `i8` with its scale, a quarter of the memory of `f32`.
//!
//! Why: a brute-force scan is bound by memory bandwidth, so scanning a quarter of the bytes
//! is close to four times faster, and on normalised text embeddings the cosine error of
//! per-vector int8 is far below the gaps that decide a ranking (the scale bench reports
//! recall@10 against exact `f32` search).

/// Quantised, L2-normalised vectors by document number.
#[derive(Debug, Clone, Default)]
pub struct QuantIndex {
    dims: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

/// `v` normalised and quantised: (codes, scale) with `v ≈ codes * scale`.
pub fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if norm == 0.0 || max == 0.0 {
        return (vec![0; v.len()], 0.0);
    }
    let scale = max / 127.0;
    let codes = v.iter().map(|x| (x / scale).round() as i8).collect();
    (codes, scale / norm)
}

impl QuantIndex {
    /// An empty index of `dims`-long vectors.
    pub fn new(dims: usize) -> Self {
        QuantIndex {
            dims,
            ..Default::default()
        }
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.scales.len()
    }

    /// Whether there are no documents.
    pub fn is_empty(&self) -> bool {
        self.scales.is_empty()
    }

    /// Appends a vector; one of the wrong length is stored as zeros.
    pub fn push(&mut self, v: &[f32]) {
        if v.len() == self.dims {
            let (codes, scale) = quantize(v);
            self.codes.extend(codes);
            self.scales.push(scale);
        } else {
            self.codes.extend(std::iter::repeat_n(0, self.dims));
            self.scales.push(0.0);
        }
    }

    /// Approximate cosine of `query` with every document, into `out`.
    pub fn scores(&self, query: &[f32], out: &mut [f32]) {
        if query.len() != self.dims || self.dims == 0 {
            return;
        }
        let (q, qs) = quantize(query);
        for ((row, scale), slot) in self
            .codes
            .chunks_exact(self.dims)
            .zip(&self.scales)
            .zip(out.iter_mut())
        {
            *slot = dot_i8(row, &q) as f32 * scale * qs;
        }
    }
}

/// Integer dot product with 16 independent lanes (vectorised by the compiler).
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let chunks = a.len() / 16 * 16;
    for (x, y) in a[..chunks]
        .chunks_exact(16)
        .zip(b[..chunks].chunks_exact(16))
    {
        for i in 0..16 {
            acc[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    let tail: i32 = a[chunks..]
        .iter()
        .zip(&b[chunks..])
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    acc.iter().sum::<i32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantised_cosines_are_close_to_exact() {
        let a: Vec<f32> = (0..37).map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0).collect();
        let b: Vec<f32> = (0..37).map(|i| ((i * 5 % 13) as f32 - 6.0) / 4.0).collect();
        let exact = super::super::dense::dot(
            &super::super::dense::normalized(&a),
            &super::super::dense::normalized(&b),
        );
        let mut idx = QuantIndex::new(37);
        idx.push(&a);
        idx.push(&[1.0]);
        let mut out = vec![9.0; 2];
        idx.scores(&b, &mut out);
        assert!((out[0] - exact).abs() < 0.01, "{} vs {exact}", out[0]);
        assert_eq!(out[1], 0.0);
    }
}
