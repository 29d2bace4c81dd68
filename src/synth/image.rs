//! Float RGB frames and the few image operations the renderer needs: affine bilinear
//! sampling from a decoded frame, separable box blur, and small blending helpers.

/// An RGB frame in floats (0–255 nominal; effects may overshoot before the final clamp).
#[derive(Debug, Clone)]
pub struct Img {
    pub w: usize,
    pub h: usize,
    pub px: Vec<f32>,
}

impl Img {
    pub fn new(w: usize, h: usize) -> Self {
        Self { w, h, px: vec![0.0; w * h * 3] }
    }

    #[inline]
    pub fn at(&self, x: usize, y: usize) -> usize {
        (y * self.w + x) * 3
    }

    /// Clamps to 0–255 and rounds to bytes.
    pub fn to_rgb8(&self) -> Vec<u8> {
        self.px.iter().map(|&v| (v.clamp(0.0, 255.0) + 0.5) as u8).collect()
    }

    pub fn from_rgb8(w: usize, h: usize, rgb: &[u8]) -> Self {
        Self { w, h, px: rgb.iter().map(|&v| v as f32).collect() }
    }

    /// Separable box blur of radius `r` (two passes ≈ a smooth tent kernel).
    pub fn blur(&mut self, r: usize) {
        blur_planes(&mut self.px, self.w, self.h, 3, r);
        blur_planes(&mut self.px, self.w, self.h, 3, r);
    }

    /// Blur with a fractional radius (blend of the two neighbouring integer radii), so
    /// a focus ramp changes smoothly.
    pub fn blur_frac(&mut self, r: f32) {
        if r <= 0.05 {
            return;
        }
        let lo = r.floor() as usize;
        let f = r - lo as f32;
        let mut a = self.clone();
        if lo > 0 {
            a.blur(lo);
        }
        if f < 0.02 {
            *self = a;
            return;
        }
        self.blur(lo + 1);
        for (s, av) in self.px.iter_mut().zip(&a.px) {
            *s = av + (*s - av) * f;
        }
    }
}

/// Box blur of interleaved `ch`-channel data, horizontal then vertical, edges clamped.
pub fn blur_planes(data: &mut [f32], w: usize, h: usize, ch: usize, r: usize) {
    if r == 0 || w == 0 || h == 0 {
        return;
    }
    let norm = 1.0 / (2 * r + 1) as f32;
    let mut line = vec![0f32; w.max(h)];
    for y in 0..h {
        for c in 0..ch {
            let get = |x: isize| data[(y * w + x.clamp(0, w as isize - 1) as usize) * ch + c];
            let mut acc: f32 = (-(r as isize)..=r as isize).map(get).sum();
            for x in 0..w {
                line[x] = acc * norm;
                acc += get(x as isize + r as isize + 1) - get(x as isize - r as isize);
            }
            for x in 0..w {
                data[(y * w + x) * ch + c] = line[x];
            }
        }
    }
    for x in 0..w {
        for c in 0..ch {
            let get = |y: isize| data[(y.clamp(0, h as isize - 1) as usize * w + x) * ch + c];
            let mut acc: f32 = (-(r as isize)..=r as isize).map(get).sum();
            for y in 0..h {
                line[y] = acc * norm;
                acc += get(y as isize + r as isize + 1) - get(y as isize - r as isize);
            }
            for y in 0..h {
                data[(y * w + x) * ch + c] = line[y];
            }
        }
    }
}

/// Output pixel → source pixel mapping of one view: centre, scale (source pixels per
/// output pixel), roll, mirror, and an output-space offset (jitter, shake).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    pub cx: f32,
    pub cy: f32,
    pub sx: f32,
    pub sy: f32,
    pub rot: f32,
    pub flip: bool,
    pub dx: f32,
    pub dy: f32,
}

impl View {
    /// Linear interpolation of two views (pans, motion-blur sub-samples).
    pub fn lerp(&self, o: &View, t: f32) -> View {
        let l = |a: f32, b: f32| a + (b - a) * t;
        View {
            cx: l(self.cx, o.cx),
            cy: l(self.cy, o.cy),
            sx: l(self.sx, o.sx),
            sy: l(self.sy, o.sy),
            rot: l(self.rot, o.rot),
            flip: self.flip,
            dx: l(self.dx, o.dx),
            dy: l(self.dy, o.dy),
        }
    }

    /// Affine coefficients `(a, b, c, d, e, f)`: src = (a·x + b·y + c, d·x + e·y + f) for
    /// output pixel centres (x, y), in source pixel-centre coordinates.
    fn affine(&self, w: usize, h: usize) -> [f32; 6] {
        let (s, c) = self.rot.sin_cos();
        let m = if self.flip { -1.0 } else { 1.0 };
        // u = x + 0.5 - W/2 - dx; v = y + 0.5 - H/2 - dy
        let (ou, ov) = (0.5 - w as f32 / 2.0 - self.dx, 0.5 - h as f32 / 2.0 - self.dy);
        let a = m * self.sx * c;
        let b = -m * self.sx * s;
        let d = self.sy * s;
        let e = self.sy * c;
        [a, b, self.cx + a * ou + b * ov - 0.5, d, e, self.cy + d * ou + e * ov - 0.5]
    }
}

/// A coarse displacement field (output pixels), `gw`×`gh` nodes spanning the frame.
pub struct Warp {
    pub gw: usize,
    pub gh: usize,
    pub d: Vec<(f32, f32)>,
}

impl Warp {
    #[inline]
    fn at(&self, x: f32, y: f32, w: usize, h: usize) -> (f32, f32) {
        let gx = (x / w as f32 * (self.gw - 1) as f32).clamp(0.0, (self.gw - 1) as f32 - 1e-3);
        let gy = (y / h as f32 * (self.gh - 1) as f32).clamp(0.0, (self.gh - 1) as f32 - 1e-3);
        let (ix, iy) = (gx as usize, gy as usize);
        let (fx, fy) = (gx - ix as f32, gy - iy as f32);
        let p = |i: usize, j: usize| self.d[j * self.gw + i];
        let (a, b, c, d) = (p(ix, iy), p(ix + 1, iy), p(ix, iy + 1), p(ix + 1, iy + 1));
        let l = |a: f32, b: f32, t: f32| a + (b - a) * t;
        (l(l(a.0, b.0, fx), l(c.0, d.0, fx), fy), l(l(a.1, b.1, fx), l(c.1, d.1, fx), fy))
    }
}

/// Samples `src` (packed RGB, `sw`×`sh`) through `view` into `out`, adding
/// `weight`·sample (so several samples can be averaged: temporal blends, motion blur).
#[allow(clippy::too_many_arguments)]
pub fn sample_add(src: &[u8], sw: usize, sh: usize, view: &View, out: &mut Img, weight: f32, warp: Option<&Warp>) {
    sample_blend(&[(src, weight)], sw, sh, view, out, warp)
}

/// Samples a weighted blend of same-size frames through `view`, adding into `out`.
/// Without roll or warp the mapping is separable, so the bilinear taps are tabulated
/// per column and per row (the common case, several times faster).
pub fn sample_blend(srcs: &[(&[u8], f32)], sw: usize, sh: usize, view: &View, out: &mut Img, warp: Option<&Warp>) {
    let [a, b, c, d, e, f] = view.affine(out.w, out.h);
    let (maxx, maxy) = ((sw - 1) as f32, (sh - 1) as f32);
    let (w, h) = (out.w, out.h);
    if b == 0.0 && d == 0.0 && warp.is_none() {
        let tap = |p: f32, max: f32, n: usize| {
            let p = p.clamp(0.0, max);
            let p0 = p as usize;
            (p0, (p0 + 1).min(n - 1), p - p0 as f32)
        };
        let cols: Vec<(usize, usize, f32)> = (0..w).map(|x| tap(a * x as f32 + c, maxx, sw)).collect();
        for y in 0..h {
            let (y0, y1, fy) = tap(e * y as f32 + f, maxy, sh);
            let row = &mut out.px[y * w * 3..(y + 1) * w * 3];
            for &(src, weight) in srcs {
                let (r0, r1) = (&src[y0 * sw * 3..(y0 + 1) * sw * 3], &src[y1 * sw * 3..(y1 + 1) * sw * 3]);
                let (wt, wb) = ((1.0 - fy) * weight, fy * weight);
                for (x, &(x0, x1, fx)) in cols.iter().enumerate() {
                    let (i0, i1) = (x0 * 3, x1 * 3);
                    let o = &mut row[x * 3..x * 3 + 3];
                    for k in 0..3 {
                        let top = r0[i0 + k] as f32 + (r0[i1 + k] as f32 - r0[i0 + k] as f32) * fx;
                        let bot = r1[i0 + k] as f32 + (r1[i1 + k] as f32 - r1[i0 + k] as f32) * fx;
                        o[k] += top * wt + bot * wb;
                    }
                }
            }
        }
        return;
    }
    for y in 0..h {
        let yf = y as f32;
        let row = &mut out.px[y * w * 3..(y + 1) * w * 3];
        for x in 0..w {
            let xf = x as f32;
            let (mut xs, mut ys) = (xf, yf);
            if let Some(wp) = warp {
                let (ddx, ddy) = wp.at(xf, yf, w, h);
                xs += ddx;
                ys += ddy;
            }
            let u = (a * xs + b * ys + c).clamp(0.0, maxx);
            let v = (d * xs + e * ys + f).clamp(0.0, maxy);
            let (x0, y0) = (u as usize, v as usize);
            let (x1, y1) = ((x0 + 1).min(sw - 1), (y0 + 1).min(sh - 1));
            let (fx, fy) = (u - x0 as f32, v - y0 as f32);
            let (i00, i10, i01, i11) = ((y0 * sw + x0) * 3, (y0 * sw + x1) * 3, (y1 * sw + x0) * 3, (y1 * sw + x1) * 3);
            let o = &mut row[x * 3..x * 3 + 3];
            for &(src, weight) in srcs {
                let w00 = (1.0 - fx) * (1.0 - fy) * weight;
                let w10 = fx * (1.0 - fy) * weight;
                let w01 = (1.0 - fx) * fy * weight;
                let w11 = fx * fy * weight;
                for k in 0..3 {
                    o[k] += src[i00 + k] as f32 * w00
                        + src[i10 + k] as f32 * w10
                        + src[i01 + k] as f32 * w01
                        + src[i11 + k] as f32 * w11;
                }
            }
        }
    }
}

#[inline]
pub fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[inline]
pub fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

/// Ease in and out on [0, 1].
#[inline]
pub fn ease(t: f32) -> f32 {
    smoothstep(0.0, 1.0, t)
}

/// Alpha-composites colour `c` over pixel `i` with opacity `a`.
#[inline]
pub fn over(px: &mut [f32], i: usize, c: [f32; 3], a: f32) {
    for k in 0..3 {
        px[i + k] += (c[k] - px[i + k]) * a;
    }
}

/// Clamped integer bounding box `[x0, x1) × [y0, y1)` of a float box.
pub fn bbox(x0: f32, y0: f32, x1: f32, y1: f32, w: usize, h: usize) -> Option<(usize, usize, usize, usize)> {
    let cx0 = x0.floor().max(0.0) as usize;
    let cy0 = y0.floor().max(0.0) as usize;
    let cx1 = (x1.ceil().max(0.0) as usize).min(w);
    let cy1 = (y1.ceil().max(0.0) as usize).min(h);
    (cx0 < cx1 && cy0 < cy1).then_some((cx0, cy0, cx1, cy1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_view_reproduces_the_source() {
        let (w, h) = (8, 6);
        let src: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        let view = View { cx: 4.0, cy: 3.0, sx: 1.0, sy: 1.0, rot: 0.0, flip: false, dx: 0.0, dy: 0.0 };
        let mut out = Img::new(w, h);
        sample_add(&src, w, h, &view, &mut out, 1.0, None);
        assert_eq!(out.to_rgb8(), src);
        let mut flipped = Img::new(w, h);
        sample_add(&src, w, h, &View { flip: true, ..view }, &mut flipped, 1.0, None);
        assert_eq!(flipped.px[0..3], out.px[(w - 1) * 3..w * 3]);
    }

    #[test]
    fn blur_preserves_constant_and_mean() {
        let mut img = Img { w: 10, h: 7, px: vec![100.0; 210] };
        img.blur(3);
        assert!(img.px.iter().all(|v| (v - 100.0).abs() < 1e-3));
        let mut img = Img::new(9, 9);
        img.px[(4 * 9 + 4) * 3] = 90.0;
        img.blur_frac(1.5);
        assert!(img.px[(4 * 9 + 4) * 3] < 90.0 && img.px[(4 * 9 + 5) * 3] > 0.0);
    }
}
