use super::*;

fn data(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

/// `x Wᵀ + b` in f64.
fn reference(x: &[f32], m: usize, k: usize, w: &[f32], n: usize, b: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; m * n];
    for r in 0..m {
        for j in 0..n {
            let s: f64 = (0..k)
                .map(|i| f64::from(x[r * k + i]) * f64::from(w[j * k + i]))
                .sum();
            out[r * n + j] = (s + f64::from(b[j])) as f32;
        }
    }
    out
}

fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "element {i}: {g} vs {w}");
    }
}

#[test]
fn f32_matches_a_float64_reference_for_odd_shapes() {
    // Rows across tiles and chunks, columns not a multiple of 16, depth across blocks.
    for &(m, k, n) in &[
        (1, 8, 1),
        (5, 40, 17),
        (7, 300, 33),
        (13, 520, 50),
        (150, 600, 40),
    ] {
        let (x, w, b) = (data(m * k, 1), data(n * k, 2), data(n, 3));
        let packed = PackedMatrix::from_f32(&w, n, k).with_bias(&b);
        let want = reference(&x, m, k, &w, n, &b);
        assert_close(&packed.matmul(&x, m), &want, 1e-3);
        let plain = PackedMatrix::from_f32(&w, n, k).matmul(&x, m);
        assert_close(&plain, &reference(&x, m, k, &w, n, &vec![0.0; n]), 1e-3);
    }
}

#[test]
fn rows_do_not_depend_on_the_rows_around_them() {
    let (m, k, n) = (23, 520, 37);
    let (x, w) = (data(m * k, 4), data(n * k, 5));
    assert_rows_stand_alone(&PackedMatrix::from_f32(&w, n, k), &x, m);
}

/// Each row of `x`'s product alone equals its row of the product of all `m`, bit for bit.
fn assert_rows_stand_alone(packed: &PackedMatrix, x: &[f32], m: usize) {
    let (k, n) = (packed.k(), packed.n());
    let all = packed.matmul(x, m);
    for r in 0..m {
        let one = packed.matmul(&x[r * k..(r + 1) * k], 1);
        assert_eq!(one, all[r * n..(r + 1) * n], "row {r}");
    }
}

#[test]
fn portable_and_vector_tiles_agree() {
    let (m, k, n) = (9, 300, 21);
    let (x, w, b) = (data(m * k, 6), data(n * k, 7), data(n, 8));
    let packed = PackedMatrix::from_f32(&w, n, k).with_bias(&b);
    let Panels::F32(lines) = &packed.panels else {
        unreachable!()
    };
    let mut tiled = vec![0f32; m * n];
    for simd_on in [false, simd()] {
        for p in 0..n.div_ceil(NR) {
            for kc in (0..k).step_by(KC) {
                let depth = KC.min(k - kc);
                Tile {
                    a: &x[kc..],
                    lda: k,
                    depth,
                    b: Block::F32(&lines[p * k + kc..p * k + kc + depth]),
                    c: tiled[p * NR..].as_mut_ptr(),
                    ldc: n,
                    cols: NR.min(n - p * NR),
                    first: kc == 0,
                    bias: (kc + depth == k).then(|| &packed.bias.as_ref().unwrap()[p * NR..]),
                    act: None,
                }
                .run(6, simd_on);
            }
        }
        let want = reference(&x[..6 * k], 6, k, &w, n, &b);
        assert_close(&tiled[..6 * n], &want, 1e-3);
    }
}

#[test]
fn int8_matches_its_dequantized_rows() {
    let (m, k, n) = (11, 320, 19);
    let x = data(m * k, 9);
    let values: Vec<i8> = data(n * k, 10).iter().map(|v| (v * 127.0) as i8).collect();
    let scales: Vec<f32> = data(n * k / Q8_BLOCK, 11)
        .iter()
        .map(|v| v.abs() / 100.0 + 1e-3)
        .collect();
    let packed = PackedMatrix::from_q8(&values, &scales, n, k);
    assert!(packed.is_int8());
    let dense: Vec<f32> = (0..n).flat_map(|j| packed.row(j)).collect();
    for (i, (&d, &v)) in dense.iter().zip(&values).enumerate() {
        assert_eq!(d, f32::from(v) * scales[i / Q8_BLOCK]);
    }
    let want = reference(&x, m, k, &dense, n, &vec![0.0; n]);
    assert_close(&packed.matmul(&x, m), &want, 1e-3);
    // And exactly the f32 kernel on the widened values, whether a row is widened in the
    // tile (few rows) or with its block (many).
    let all = packed.matmul(&x, m);
    assert_eq!(all, PackedMatrix::from_f32(&dense, n, k).matmul(&x, m));
    assert_rows_stand_alone(&packed, &x, m);
}

#[test]
fn activations_follow_the_bias() {
    let (m, k, n) = (7, 64, 20);
    let (x, w, b) = (data(m * k, 13), data(n * k, 14), data(n, 15));
    let plain = reference(&x, m, k, &w, n, &b);
    for act in [Act::Silu, Act::Relu] {
        let packed = PackedMatrix::from_f32(&w, n, k)
            .with_bias(&b)
            .with_activation(act);
        let want: Vec<f32> = plain.iter().map(|&v| act.apply(v)).collect();
        assert_close(&packed.matmul(&x, m), &want, 1e-3);
    }
}

#[test]
fn row_returns_what_was_packed() {
    let (n, k) = (35, 24);
    let w = data(n * k, 12);
    let packed = PackedMatrix::from_f32(&w, n, k);
    for j in [0, 15, 16, 34] {
        assert_eq!(packed.row(j), w[j * k..(j + 1) * k]);
    }
}

#[test]
fn empty_shapes_give_empty_or_bias_free_results() {
    let packed = PackedMatrix::from_f32(&[], 0, 8);
    assert!(packed.matmul(&data(16, 1), 2).is_empty());
    let packed = PackedMatrix::from_f32(&data(24, 1), 3, 8);
    assert!(packed.matmul(&[], 0).is_empty());
}

/// `x` quantized per row as the int8 kernel does, and `W = q · s` per row: the exact products
/// in f64 from the same integers.
fn int8_reference(
    x: &[f32],
    m: usize,
    k: usize,
    q: &[i8],
    s: &[f32],
    n: usize,
    b: &[f32],
) -> Vec<f32> {
    let mut out = vec![0f32; m * n];
    for r in 0..m {
        let row = &x[r * k..(r + 1) * k];
        let amax = row.iter().fold(0f32, |a, v| a.max(v.abs()));
        let qx: Vec<i64> = row
            .iter()
            .map(|v| {
                if amax > 0.0 {
                    (v * (127.0 / amax)).round_ties_even() as i64
                } else {
                    0
                }
            })
            .collect();
        for j in 0..n {
            let dot: i64 = (0..k)
                .map(|i| qx[i] * i64::from(q[j * k + i].max(-127)))
                .sum();
            out[r * n + j] =
                ((dot as f64) * f64::from(amax / 127.0) * f64::from(s[j])) as f32 + b[j];
        }
    }
    out
}

#[test]
fn int8_rows_match_integer_products_for_odd_shapes() {
    for &(m, k, n) in &[
        (1, 4, 1),
        (3, 7, 17),
        (4, 64, 16),
        (9, 130, 33),
        (37, 512, 20),
    ] {
        let x = data(m * k, 21);
        // Full int8 range, −128 included (the kernel takes it as −127).
        let q: Vec<i8> = data(n * k, 22)
            .iter()
            .map(|v| (v * 128.0).clamp(-128.0, 127.0) as i8)
            .collect();
        let s: Vec<f32> = data(n, 23).iter().map(|v| v.abs() / 50.0 + 1e-3).collect();
        let b = data(n, 24);
        let packed = PackedMatrix::from_i8_rows(&q, &s, n, k).with_bias(&b);
        assert!(packed.is_int8());
        let want = int8_reference(&x, m, k, &q, &s, n, &b);
        assert_close(&packed.matmul(&x, m), &want, 1e-4);
        assert_rows_stand_alone(&packed, &x, m);
        for j in [0, n - 1] {
            let row = packed.row(j);
            assert_eq!(row[k - 1], f32::from(q[j * k + k - 1].max(-127)) * s[j]);
        }
    }
}

#[test]
fn int8_rows_saturate_nowhere_and_handle_zero_rows() {
    // Every activation at ±127 against weights at ±127: the largest pair sums vpmaddubsw sees.
    let (m, k, n) = (2, 64, 16);
    let x: Vec<f32> = (0..m * k)
        .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
        .collect();
    let q: Vec<i8> = (0..n * k)
        .map(|i| if i % 5 == 0 { -127 } else { 127 })
        .collect();
    let s = vec![1.0; n];
    let packed = PackedMatrix::from_i8_rows(&q, &s, n, k);
    let want = int8_reference(&x, m, k, &q, &s, n, &vec![0.0; n]);
    assert_close(&packed.matmul(&x, m), &want, 1e-3);
    // A row of zeros has no scale: its products are zero (plus the bias).
    let zeros = vec![0f32; k];
    let b = vec![0.5; n];
    let out = PackedMatrix::from_i8_rows(&q, &s, n, k)
        .with_bias(&b)
        .matmul(&zeros, 1);
    assert!(out.iter().all(|&v| v == 0.5));
}

#[test]
fn int8_rows_scale_and_activate_like_the_f32_kernel() {
    let (m, k, n) = (5, 96, 21);
    let x = data(m * k, 25);
    let q: Vec<i8> = data(n * k, 26).iter().map(|v| (v * 127.0) as i8).collect();
    let s: Vec<f32> = (0..n).map(|j| 0.01 + j as f32 * 1e-3).collect();
    let f: Vec<f32> = (0..n).map(|j| 1.0 + j as f32 / 10.0).collect();
    let b = data(n, 27);
    let scaled: Vec<f32> = s.iter().zip(&f).map(|(a, b)| a * b).collect();
    let want = int8_reference(&x, m, k, &q, &scaled, n, &b);
    for act in [Act::Silu, Act::Relu] {
        let packed = PackedMatrix::from_i8_rows(&q, &s, n, k)
            .scale_rows(&f)
            .with_bias(&b)
            .with_activation(act);
        let want: Vec<f32> = want.iter().map(|&v| act.apply(v)).collect();
        assert_close(&packed.matmul(&x, m), &want, 1e-3);
    }
}

#[test]
fn int8_rows_portable_and_vector_tiles_agree() {
    // Every kernel this CPU runs, at row counts that fill and split their tiles, depths that
    // are not whole quads, partial panels, all-zero and extreme rows, bias and activations.
    let kernels: Vec<int8::Kernel> = [
        int8::Kernel::Portable,
        int8::Kernel::best(false),
        int8::Kernel::best(simd()),
    ]
    .into_iter()
    .chain(simd().then_some(int8::Kernel::Avx2))
    .collect();
    for (m, k, n) in [
        (4, 100, 16),
        (1, 7, 3),
        (17, 64, 37),
        (33, 130, 50),
        (40, 512, 16),
    ] {
        let mut x = data(m * k, 28);
        x[..k].fill(0.0);
        if m > 1 {
            x[k] = 1e30;
        }
        let mut q: Vec<i8> = data(n * k, 29).iter().map(|v| (v * 127.0) as i8).collect();
        q[0] = -128;
        q[1] = 127;
        let s: Vec<f32> = data(n, 30).iter().map(|v| v.abs() + 0.01).collect();
        let b = data(n, 31);
        for act in [None, Some(Act::Silu), Some(Act::Relu)] {
            let packed = PackedMatrix::from_i8_rows(&q, &s, n, k).with_bias(&b);
            let Panels::RowInt8(w) = &packed.panels else {
                unreachable!()
            };
            let outs: Vec<Vec<f32>> = kernels
                .iter()
                .map(|&kernel| {
                    let mut out = vec![f32::NAN; m * n];
                    int8::matmul(
                        w,
                        packed.bias.as_deref(),
                        act,
                        n,
                        k,
                        &x,
                        m,
                        OutPtr(out.as_mut_ptr()),
                        kernel,
                    );
                    out
                })
                .collect();
            // The vector SiLU is within 2 ulp of the portable one, so with SiLU only the vector
            // kernels are compared with each other; the integer sums are equal everywhere.
            let base = if act == Some(Act::Silu) {
                outs.len() - 1
            } else {
                0
            };
            for (kernel, out) in kernels.iter().zip(&outs) {
                assert!(out.iter().all(|v| v.is_finite()), "{kernel:?} {m}×{k}×{n}");
                if *kernel != int8::Kernel::Portable || base == 0 {
                    assert_eq!(out, &outs[base], "{kernel:?} {m}×{k}×{n} {act:?}");
                }
            }
        }
    }
}
