//! The shortest decimal digits that read back to a given `f64` (Steele & White's free-format
//! algorithm, exact, on small big integers): of the shortest, the closest, and on a tie the one
//! with the even last digit, as serde_json's writer picks them. The standard library's `{:e}`
//! finds the same digits but brings ~17 KB of formatting code into the wasm module.

use std::cmp::Ordering;

/// A non-negative big integer, little-endian 32-bit limbs.
#[derive(Clone)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(n: u64) -> Big {
        let mut b = Big(vec![n as u32, (n >> 32) as u32]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let x = u64::from(*limb) * u64::from(m) + carry;
            *limb = x as u32;
            carry = x >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow2(&mut self, n: u32) {
        for _ in 0..n / 32 {
            self.0.insert(0, 0);
        }
        let bits = n % 32;
        if bits > 0 {
            self.mul_small(1 << bits);
        }
        self.trim();
    }

    fn mul_pow10(&mut self, n: u32) {
        for _ in 0..n {
            self.mul_small(10);
        }
    }

    fn add(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len().max(other.0.len()) + 1);
        let mut carry = 0u64;
        for i in 0..self.0.len().max(other.0.len()) {
            let x = u64::from(self.0.get(i).copied().unwrap_or(0)) + u64::from(other.0.get(i).copied().unwrap_or(0)) + carry;
            out.push(x as u32);
            carry = x >> 32;
        }
        if carry > 0 {
            out.push(carry as u32);
        }
        Big(out)
    }

    /// `self -= other`; `other` must not be larger.
    fn sub(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let x = i64::from(*limb) - i64::from(other.0.get(i).copied().unwrap_or(0)) - borrow;
            borrow = i64::from(x < 0);
            *limb = (x + (borrow << 32)) as u32;
        }
        self.trim();
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }
}

/// The digits (ASCII) and the decimal exponent of the first digit of a finite, non-zero `f`:
/// `|f| ≈ d.ddd × 10^exp`.
#[inline(never)]
pub(crate) fn shortest(f: f64) -> (Vec<u8>, i32) {
    let bits = f.abs().to_bits();
    let fraction = bits & ((1 << 52) - 1);
    let biased = (bits >> 52) as i32;
    let (m, e) = if biased == 0 { (fraction, -1074) } else { (fraction | 1 << 52, biased - 1075) };
    // The interval of decimals that read back to f: its ends count when m is even (ties to even).
    let inclusive = m % 2 == 0;
    // f = r / s; the gaps to the neighbours are m_plus / s above and m_minus / s below (halved).
    let uneven = biased > 1 && fraction == 0;
    let (mut r, mut s, mut m_plus, mut m_minus);
    if e >= 0 {
        let shift = e.unsigned_abs();
        r = Big::from_u64(m);
        r.mul_pow2(shift + 1 + u32::from(uneven));
        s = Big::from_u64(2 << u32::from(uneven));
        m_plus = Big::from_u64(1);
        m_plus.mul_pow2(shift + u32::from(uneven));
        m_minus = Big::from_u64(1);
        m_minus.mul_pow2(shift);
    } else {
        r = Big::from_u64(m << (1 + u32::from(uneven)));
        s = Big::from_u64(1);
        s.mul_pow2(e.unsigned_abs() + 1 + u32::from(uneven));
        m_plus = Big::from_u64(1 << u32::from(uneven));
        m_minus = Big::from_u64(1);
    }
    // k: the smallest with f < 10^k (high end of the interval included as needed).
    let bit_len = 64 - i32::try_from(m.leading_zeros()).unwrap_or(0);
    // floor(x · log10 2) + 1 in integers (78913 / 2^18 ≈ log10 2; no float-to-int conversion,
    // which the module's wasm features lack); the loops below correct it either way.
    let mut k = (((e + bit_len - 1) * 78_913) >> 18) + 1;
    if k >= 0 {
        s.mul_pow10(k.unsigned_abs());
    } else {
        let n = k.unsigned_abs();
        r.mul_pow10(n);
        m_plus.mul_pow10(n);
        m_minus.mul_pow10(n);
    }
    let too_high = |r: &Big, m_plus: &Big, s: &Big| match r.add(m_plus).cmp(s) {
        Ordering::Greater => true,
        Ordering::Equal => inclusive,
        Ordering::Less => false,
    };
    while too_high(&r, &m_plus, &s) {
        s.mul_small(10);
        k += 1;
    }
    loop {
        let mut r10 = r.clone();
        let mut p10 = m_plus.clone();
        r10.mul_small(10);
        p10.mul_small(10);
        if too_high(&r10, &p10, &s) {
            break;
        }
        r = r10;
        m_plus = p10;
        m_minus.mul_small(10);
        k -= 1;
    }
    digits(r, s, m_plus, m_minus, inclusive, k)
}

/// Generates digits until the rest is within the interval; the last one rounded to the closer,
/// ties to even.
#[inline(never)]
fn digits(mut r: Big, s: Big, mut m_plus: Big, mut m_minus: Big, inclusive: bool, k: i32) -> (Vec<u8>, i32) {
    let mut out = Vec::new();
    loop {
        r.mul_small(10);
        m_plus.mul_small(10);
        m_minus.mul_small(10);
        let mut d = 0u8;
        while r.cmp(&s) != Ordering::Less && d < 9 {
            r.sub(&s);
            d += 1;
        }
        let low = match r.cmp(&m_minus) {
            Ordering::Less => true,
            Ordering::Equal => inclusive,
            Ordering::Greater => false,
        };
        let high = match r.add(&m_plus).cmp(&s) {
            Ordering::Greater => true,
            Ordering::Equal => inclusive,
            Ordering::Less => false,
        };
        if !low && !high {
            out.push(b'0' + d);
            continue;
        }
        let up = match (low, high) {
            (true, false) => false,
            (false, true) => true,
            _ => match r.add(&r).cmp(&s) {
                Ordering::Less => false,
                Ordering::Greater => true,
                Ordering::Equal => d % 2 == 1,
            },
        };
        out.push(b'0' + d + u8::from(up));
        return (out, k - 1);
    }
}
