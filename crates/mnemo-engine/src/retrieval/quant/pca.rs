//! The principal axes of a sample of vectors: the directions along which they vary most.
//!
//! Why: text embeddings spread most of their variance over a minority of directions (the
//! built-in 256-dimension embedder keeps ~70% of it in 96 of them), so scoring in that
//! subspace ranks candidates almost as well as the full vectors at a fraction of the bytes.
//! Computed by subspace iteration on the sample's covariance: simple, dependency-free, and
//! an approximate basis is enough because the candidates are rescored with full vectors.

/// Rounds of subspace iteration (the span converges geometrically; exactness is not needed).
const ROUNDS: usize = 12;

/// `k` orthonormal axes (each `dims` long) spanning the directions of largest variance of
/// `sample` (vectors of `dims` elements, already centred), best first.
pub(crate) fn principal_axes(sample: &[Vec<f32>], dims: usize, k: usize) -> Vec<Vec<f32>> {
    let k = k.min(dims);
    let cov = covariance(sample, dims);
    // Start from the coordinate axes of largest variance (deterministic, never degenerate
    // in practice), then iterate: V <- orthonormalise(C V).
    let mut order: Vec<usize> = (0..dims).collect();
    order.sort_by(|&a, &b| cov[b * dims + b].total_cmp(&cov[a * dims + a]));
    let mut axes: Vec<Vec<f32>> = order[..k]
        .iter()
        .map(|&i| {
            let mut v = vec![0.0f32; dims];
            v[i] = 1.0;
            v
        })
        .collect();
    for _ in 0..ROUNDS {
        axes = axes.iter().map(|v| multiply(&cov, dims, v)).collect();
        orthonormalise(&mut axes);
    }
    axes
}

/// The covariance matrix (row-major, `dims`²) of centred vectors.
fn covariance(sample: &[Vec<f32>], dims: usize) -> Vec<f32> {
    let mut cov = vec![0.0f64; dims * dims];
    for v in sample.iter().filter(|v| v.len() == dims) {
        for (i, &x) in v.iter().enumerate() {
            if x == 0.0 {
                continue;
            }
            let row = &mut cov[i * dims..i * dims + dims];
            for (c, &y) in row[i..].iter_mut().zip(&v[i..]) {
                *c += f64::from(x) * f64::from(y);
            }
        }
    }
    let n = sample.len().max(1) as f64;
    let mut out = vec![0.0f32; dims * dims];
    for i in 0..dims {
        for j in i..dims {
            let c = (cov[i * dims + j] / n) as f32;
            out[i * dims + j] = c;
            out[j * dims + i] = c;
        }
    }
    out
}

fn multiply(m: &[f32], dims: usize, v: &[f32]) -> Vec<f32> {
    m.chunks_exact(dims)
        .map(|row| super::super::dense::dot(row, v))
        .collect()
}

/// Modified Gram-Schmidt; a vector that collapses to zero is replaced by an unused
/// coordinate axis so the basis keeps its size.
fn orthonormalise(axes: &mut [Vec<f32>]) {
    for i in 0..axes.len() {
        let (done, rest) = axes.split_at_mut(i);
        let v = &mut rest[0];
        for u in done.iter() {
            let d = super::super::dense::dot(u, v);
            v.iter_mut().zip(u).for_each(|(x, y)| *x -= d * y);
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 1e-12 {
            v.iter_mut().for_each(|x| *x /= norm);
        } else {
            let dims = v.len();
            let unused = (0..dims).find(|&c| done.iter().all(|u| u[c].abs() < 0.5));
            v.iter_mut().for_each(|x| *x = 0.0);
            if let Some(c) = unused {
                v[c] = 1.0;
            }
            // Re-orthogonalise the replacement against the earlier axes.
            for u in done.iter() {
                let d = super::super::dense::dot(u, v);
                v.iter_mut().zip(u).for_each(|(x, y)| *x -= d * y);
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::dense::dot;

    #[test]
    fn finds_the_directions_of_largest_variance() {
        // Points spread widely along (1, 1, 0)/√2, a little along z, hardly along (1, -1, 0).
        let mut sample = Vec::new();
        for i in 0..200 {
            let t = (i as f32 / 20.0).sin() * 5.0;
            let z = (i as f32 / 7.0).cos();
            let e = ((i * 37 % 11) as f32 - 5.0) * 0.01;
            sample.push(vec![t + e, t - e, z]);
        }
        let mean: Vec<f32> = (0..3)
            .map(|d| sample.iter().map(|v| v[d]).sum::<f32>() / 200.0)
            .collect();
        for v in &mut sample {
            v.iter_mut().zip(&mean).for_each(|(x, m)| *x -= m);
        }
        let axes = principal_axes(&sample, 3, 2);
        assert_eq!(axes.len(), 2);
        let diag = std::f32::consts::FRAC_1_SQRT_2;
        assert!(dot(&axes[0], &[diag, diag, 0.0]).abs() > 0.99, "{axes:?}");
        assert!(axes[1][2].abs() > 0.99, "{axes:?}");
        assert!(dot(&axes[0], &axes[1]).abs() < 1e-4);
        assert!((dot(&axes[1], &axes[1]) - 1.0).abs() < 1e-4);
    }

    #[test]
    fn a_degenerate_sample_still_gives_an_orthonormal_basis() {
        let sample = vec![vec![1.0, 0.0, 0.0, 0.0], vec![-1.0, 0.0, 0.0, 0.0]];
        let axes = principal_axes(&sample, 4, 3);
        assert_eq!(axes.len(), 3);
        for (i, a) in axes.iter().enumerate() {
            assert!((dot(a, a) - 1.0).abs() < 1e-4, "{axes:?}");
            for b in &axes[i + 1..] {
                assert!(dot(a, b).abs() < 1e-4, "{axes:?}");
            }
        }
        assert!(axes[0][0].abs() > 0.99);
    }
}
