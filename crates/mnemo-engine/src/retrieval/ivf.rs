//! Approximate nearest-neighbour search for large scopes: an inverted-file (IVF) index over
//! the int8 vectors of [`QuantIndex`].
//!
//! Why: an exact scan reads every vector (256 MB per query at 1M memories of 256 dims, about
//! 30 ms), which is fine up to tens of thousands of vectors and too slow past a few hundred
//! thousand. IVF partitions the vectors by their nearest centroid (spherical k-means, a few
//! Lloyd iterations with a fixed seed on a sample) into about `sqrt(N)` lists; a query scans
//! only the lists of its `nprobe` nearest centroids. No new dependency, no training data, and
//! the build is a small part of embedding the scope. Below [`IVF_MIN`] vectors the exact scan
//! is kept. Vectors added after the build go into their nearest list (no rebuild per insert).
//! The scale bench reports recall@10 of this index against exact `f32` search.

use super::dense::dot;
use super::quant::QuantIndex;

/// Fewest vectors for which the approximate index is built.
pub const IVF_MIN: usize = 50_000;
/// Vectors the centroids are trained on.
const SAMPLE: usize = 20_000;
/// Lloyd iterations.
const ITERATIONS: usize = 6;
/// Seed of the sample and the initial centroids.
const SEED: u64 = 0x6d6e_656d_6f49_5646;

/// A scope's vectors: int8 codes, plus IVF lists when there are many.
#[derive(Debug, Clone)]
pub struct VectorIndex {
    quant: QuantIndex,
    ivf: Option<Ivf>,
}

/// Centroids and their inverted lists: document numbers, and a copy of their codes in list
/// order (a probe then reads contiguous memory; scattered reads of a large array were
/// several times slower than the scan they replace).
#[derive(Debug, Clone)]
struct Ivf {
    dims: usize,
    centroids: Vec<f32>,
    lists: Vec<(Vec<u32>, QuantIndex)>,
    nprobe: usize,
    /// Sum of all (decoded) vectors: the mean cosine is `dot(sum, q) / len`.
    sum: Vec<f32>,
}

/// The documents scored for a query: every document (`docs` is `None` and `scores` is by
/// document number) or those of the probed lists.
#[derive(Debug, Clone)]
pub struct Scored {
    pub docs: Option<Vec<u32>>,
    pub scores: Vec<f32>,
    /// Mean cosine of the query with all documents.
    pub mean: f32,
}

impl Scored {
    /// The document number of the `i`-th score.
    pub fn doc(&self, i: usize) -> usize {
        self.docs.as_ref().map_or(i, |d| d[i] as usize)
    }
}

impl VectorIndex {
    /// Indexes `quant`, with IVF lists when it holds at least [`IVF_MIN`] vectors.
    pub fn new(quant: QuantIndex) -> Self {
        Self::with_threshold(quant, IVF_MIN)
    }

    /// Like [`VectorIndex::new`] with another size threshold.
    pub fn with_threshold(quant: QuantIndex, min: usize) -> Self {
        let ivf = (quant.len() >= min && !quant.is_empty()).then(|| Ivf::build(&quant));
        VectorIndex { quant, ivf }
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.quant.len()
    }

    /// Whether there are no documents.
    pub fn is_empty(&self) -> bool {
        self.quant.is_empty()
    }

    /// Whether search is approximate (IVF) rather than an exact scan.
    pub fn is_approximate(&self) -> bool {
        self.ivf.is_some()
    }

    /// Sets how many lists a query probes (no effect on an exact index).
    pub fn set_nprobe(&mut self, nprobe: usize) {
        if let Some(ivf) = &mut self.ivf {
            ivf.nprobe = nprobe.clamp(1, ivf.lists.len());
        }
    }

    /// Appends the next document's vector (into its nearest list when there are lists).
    pub fn push(&mut self, v: &[f32]) {
        self.quant.push(v);
        let d = self.quant.len() - 1;
        if let Some(ivf) = &mut self.ivf {
            ivf.add(d, &self.quant);
        }
    }

    /// Scores `query` (normalised) against every document, or against the probed lists.
    pub fn search(&self, query: &[f32]) -> Scored {
        let n = self.quant.len();
        match &self.ivf {
            None => {
                let mut scores = vec![0.0f32; n];
                self.quant.scores(query, &mut scores);
                let mean = scores.iter().sum::<f32>() / n.max(1) as f32;
                Scored {
                    docs: None,
                    scores,
                    mean,
                }
            }
            Some(ivf) => {
                let (docs, scores) = ivf.probe(query);
                let mean = ivf.mean(query, n);
                Scored {
                    docs: Some(docs),
                    scores,
                    mean,
                }
            }
        }
    }

    /// The approximate cosine of `query` with each of `docs`.
    pub fn scores_of(&self, query: &[f32], docs: &[usize]) -> Vec<f32> {
        let ids: Vec<u32> = docs.iter().map(|&d| d as u32).collect();
        let mut out = vec![0.0f32; ids.len()];
        self.quant.scores_of(query, &ids, &mut out);
        out
    }
}

impl Ivf {
    /// Trains about `sqrt(N)` centroids on a sample and fills the lists.
    fn build(quant: &QuantIndex) -> Self {
        let dims = quant.dims();
        let nlist = (quant.len() as f64).sqrt().round().max(1.0) as usize;
        let centroids = train(quant, nlist);
        let assigned = assign(quant.len(), &|d| quant.vector(d), &centroids, dims);
        let mut lists = vec![(Vec::new(), QuantIndex::new(dims)); nlist];
        let mut sum = vec![0.0f32; dims];
        for (d, &c) in assigned.iter().enumerate() {
            if quant.has_vector(d) {
                let (ids, codes) = &mut lists[c as usize];
                ids.push(d as u32);
                codes.push_from(quant, d);
                add_into(&mut sum, &quant.vector(d));
            }
        }
        Ivf {
            dims,
            centroids,
            nprobe: default_nprobe(nlist),
            lists,
            sum,
        }
    }

    /// Puts document `d` of `quant` into its nearest list.
    fn add(&mut self, d: usize, quant: &QuantIndex) {
        if !quant.has_vector(d) {
            return;
        }
        let v = quant.vector(d);
        let (ids, codes) = &mut self.lists[nearest(&self.centroids, self.dims, &v) as usize];
        ids.push(d as u32);
        codes.push_from(quant, d);
        add_into(&mut self.sum, &v);
    }

    /// The documents of the lists nearest to `query`, with their scores.
    fn probe(&self, query: &[f32]) -> (Vec<u32>, Vec<f32>) {
        if query.len() != self.dims {
            return (Vec::new(), Vec::new());
        }
        let mut by: Vec<(f32, usize)> = self
            .centroids
            .chunks_exact(self.dims)
            .map(|c| dot(c, query))
            .enumerate()
            .map(|(i, s)| (s, i))
            .collect();
        let k = self.nprobe.min(by.len());
        let cmp = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if k < by.len() {
            by.select_nth_unstable_by(k, cmp);
        }
        let (mut docs, mut scores) = (Vec::new(), Vec::new());
        for &(_, c) in &by[..k] {
            let (ids, codes) = &self.lists[c];
            let at = scores.len();
            scores.resize(at + ids.len(), 0.0);
            codes.scores(query, &mut scores[at..]);
            docs.extend_from_slice(ids);
        }
        (docs, scores)
    }

    /// Mean cosine of `query` with all `n` documents.
    fn mean(&self, query: &[f32], n: usize) -> f32 {
        if query.len() != self.dims {
            return 0.0;
        }
        dot(&self.sum, query) / n.max(1) as f32
    }
}

/// Lists probed per query: three in five (at least 8). The scale bench's memories are bags
/// of random words with no topic structure, so a query's nearest memories are spread over
/// many lists: at 100k memories recall@10 against exact search was 0.69 probing a tenth of
/// the lists, 0.88 a third, 0.95 a half, 0.96 three in five; putting each vector also in its
/// second-nearest list did no better at equal cost. Corpora with topics cluster better.
fn default_nprobe(nlist: usize) -> usize {
    (nlist * 3).div_ceil(5).max(8).min(nlist)
}

/// Spherical k-means on a seeded sample: `nlist` unit centroids, flattened.
fn train(quant: &QuantIndex, nlist: usize) -> Vec<f32> {
    let dims = quant.dims();
    let ids: Vec<usize> = sample(quant.len(), SAMPLE.max(nlist), SEED)
        .into_iter()
        .filter(|&d| quant.has_vector(d))
        .collect();
    let data: Vec<f32> = ids.iter().flat_map(|&d| quant.vector(d)).collect();
    let mut centroids: Vec<f32> = data.iter().copied().take(nlist * dims).collect();
    centroids.resize(nlist * dims, 0.0);
    for _ in 0..ITERATIONS {
        let assigned = assign(
            ids.len(),
            &|i| data[i * dims..(i + 1) * dims].to_vec(),
            &centroids,
            dims,
        );
        update(&mut centroids, &data, &assigned, dims);
    }
    centroids
}

/// Moves each centroid to the normalised mean of its members (an empty one stays).
fn update(centroids: &mut [f32], data: &[f32], assigned: &[u32], dims: usize) {
    let mut sums = vec![0.0f32; centroids.len()];
    for (row, &c) in data.chunks_exact(dims).zip(assigned) {
        let c = c as usize;
        add_into(&mut sums[c * dims..(c + 1) * dims], row);
    }
    for (centroid, sum) in centroids
        .chunks_exact_mut(dims)
        .zip(sums.chunks_exact(dims))
    {
        let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (c, s) in centroid.iter_mut().zip(sum) {
                *c = s / norm;
            }
        }
    }
}

/// The nearest centroid of each of `count` vectors (`row(i)`), on all cores.
fn assign(
    count: usize,
    row: &(dyn Fn(usize) -> Vec<f32> + Sync),
    centroids: &[f32],
    dims: usize,
) -> Vec<u32> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    let mut out = vec![0u32; count];
    std::thread::scope(|s| {
        for (t, part) in out.chunks_mut(chunk).enumerate() {
            s.spawn(move || {
                for (j, slot) in part.iter_mut().enumerate() {
                    *slot = nearest(centroids, dims, &row(t * chunk + j));
                }
            });
        }
    });
    out
}

/// The centroid with the largest dot product with `v`.
fn nearest(centroids: &[f32], dims: usize, v: &[f32]) -> u32 {
    let mut best = (f32::NEG_INFINITY, 0);
    for (i, c) in centroids.chunks_exact(dims).enumerate() {
        let s = dot(c, v);
        if s > best.0 {
            best = (s, i as u32);
        }
    }
    best.1
}

fn add_into(sum: &mut [f32], v: &[f32]) {
    for (s, x) in sum.iter_mut().zip(v) {
        *s += x;
    }
}

/// Up to `k` distinct numbers below `n`, drawn with a seeded xorshift (partial shuffle).
fn sample(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut ids: Vec<usize> = (0..n).collect();
    let mut state = seed | 1;
    let k = k.min(n);
    for i in 0..k {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = i + (state % (n - i) as u64) as usize;
        ids.swap(i, j);
    }
    ids.truncate(k);
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded clustered unit vectors: `clusters` random centres plus noise.
    fn clustered(n: usize, dims: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
        };
        let centres: Vec<Vec<f32>> = (0..clusters)
            .map(|_| (0..dims).map(|_| next()).collect())
            .collect();
        (0..n)
            .map(|i| {
                let c = &centres[i % clusters];
                c.iter().map(|x| x + 0.6 * next()).collect()
            })
            .collect()
    }

    fn index(vectors: &[Vec<f32>], min: usize) -> VectorIndex {
        let mut quant = QuantIndex::new(vectors[0].len());
        vectors.iter().for_each(|v| quant.push(v));
        VectorIndex::with_threshold(quant, min)
    }

    fn top(scored: &Scored, k: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..scored.scores.len()).collect();
        idx.sort_by(|a, b| scored.scores[*b].total_cmp(&scored.scores[*a]));
        idx.into_iter().take(k).map(|i| scored.doc(i)).collect()
    }

    #[test]
    fn ivf_recall_against_exact_is_at_least_095() {
        let vectors = clustered(20_000, 32, 200, 7);
        let ann = index(&vectors, 1);
        let exact = index(&vectors, usize::MAX);
        assert!(ann.is_approximate() && !exact.is_approximate());
        // Queries near stored vectors, as a recall's words come from stored memories.
        let queries: Vec<Vec<f32>> = (0..50).map(|i| vectors[i * 397].clone()).collect();
        let mut hit = 0;
        for (i, q) in queries.iter().enumerate() {
            let q: Vec<f32> = q
                .iter()
                .zip(&vectors[i * 211 + 1])
                .map(|(a, b)| a + 0.3 * b)
                .collect();
            let q = super::super::dense::normalized(&q);
            let (a, e) = (top(&ann.search(&q), 10), top(&exact.search(&q), 10));
            hit += e.iter().filter(|d| a.contains(d)).count();
        }
        let recall = hit as f64 / (10 * queries.len()) as f64;
        assert!(recall >= 0.95, "recall {recall}");
    }

    #[test]
    fn small_scopes_scan_exactly() {
        let vectors = clustered(500, 16, 5, 3);
        let idx = index(&vectors, IVF_MIN);
        assert!(!idx.is_approximate());
        let scored = idx.search(&super::super::dense::normalized(&vectors[0]));
        assert!(scored.docs.is_none());
        assert_eq!(scored.scores.len(), 500);
    }

    #[test]
    fn a_vector_added_after_the_build_is_found() {
        let vectors = clustered(5_000, 16, 50, 5);
        let mut idx = index(&vectors, 1);
        let new: Vec<f32> = (0..16)
            .map(|i| if i % 3 == 0 { 1.0 } else { -0.5 })
            .collect();
        idx.push(&new);
        let scored = idx.search(&super::super::dense::normalized(&new));
        assert_eq!(top(&scored, 1), vec![5_000]);
        assert!((idx.scores_of(&new, &[5_000])[0] - 1.0).abs() < 0.01);
    }
}
