//! Exact vector search by brute force over a flat array.
//!
//! Why brute force: one scope rarely holds more than tens of thousands of vectors, and a
//! scan of a contiguous array is exact, has no build cost and no tuning. Vectors are stored
//! L2-normalised, so the dot product is the cosine similarity. A document without a vector
//! (its text had nothing embeddable) scores 0.

/// Vectors of one model, by document number.
#[derive(Debug, Clone)]
pub struct DenseIndex {
    pub model_id: String,
    dims: usize,
    data: Vec<f32>,
}

impl DenseIndex {
    /// An empty index for vectors of `dims` elements made by `model_id`.
    pub fn new(model_id: impl Into<String>, dims: usize) -> Self {
        DenseIndex {
            model_id: model_id.into(),
            dims,
            data: Vec::new(),
        }
    }

    /// Vector length.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dims).unwrap_or(0)
    }

    /// Whether there are no documents.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Appends the next document's vector (normalised here); `None` or a vector of the
    /// wrong length stores zeros.
    pub fn push(&mut self, vector: Option<&[f32]>) {
        match vector.filter(|v| v.len() == self.dims) {
            Some(v) => {
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
                self.data.extend(v.iter().map(|x| x * scale));
            }
            None => self.data.extend(std::iter::repeat_n(0.0, self.dims)),
        }
    }

    /// Cosine similarity of `query` (normalised) with every document, into `out`.
    pub fn scores(&self, query: &[f32], out: &mut [f32]) {
        if query.len() != self.dims || self.dims == 0 {
            return;
        }
        for (row, slot) in self.data.chunks_exact(self.dims).zip(out.iter_mut()) {
            *slot = dot(row, query);
        }
    }
}

/// Dot product with eight independent accumulators, so the compiler vectorises it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8 * 8;
    for (x, y) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a[chunks..]
        .iter()
        .zip(&b[chunks..])
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// `v` scaled to unit length (zero stays zero).
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_cosines_and_bad_vectors_score_zero() {
        let mut idx = DenseIndex::new("m", 3);
        idx.push(Some(&[2.0, 0.0, 0.0]));
        idx.push(Some(&[0.0, 1.0, 1.0]));
        idx.push(None);
        idx.push(Some(&[1.0]));
        let mut out = vec![9.0; 4];
        idx.scores(&normalized(&[1.0, 1.0, 0.0]), &mut out);
        assert!((out[0] - 0.70710677).abs() < 1e-6);
        assert!((out[1] - 0.5).abs() < 1e-6);
        assert_eq!(&out[2..], &[0.0, 0.0]);
        let long: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let naive: f32 = long.iter().map(|x| x * x).sum();
        assert!((dot(&long, &long) - naive).abs() < 1e-3);
    }
}
