//! Lossless numbers.
//!
//! cty numbers are arbitrary-precision decimals (Terraform parses configuration
//! numbers with 512 bits of precision and sends the ones that do not fit a
//! float64 as decimal strings). [`Number`] keeps every such value exactly: a
//! sign, a string of significant decimal digits and a decimal exponent, or
//! ±infinity. Values are kept in a canonical form, so the derived equality and
//! hashing are numeric equality (`1.50 == 1.5`, `-0 == 0`).

use std::cmp::Ordering;
use std::fmt;

/// Largest decimal magnitude (number of digits before or after the decimal
/// point) accepted when parsing. Bounds the size of the canonical text form,
/// so that hostile input such as `1e999999999` cannot make us print a
/// gigabyte.
pub const MAX_DECIMAL_EXPONENT: i64 = 100_000;

/// Why a text could not be parsed as a [`Number`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// Not a decimal number.
    #[error("invalid number syntax {0:?}")]
    Syntax(String),
    /// The decimal exponent is beyond [`MAX_DECIMAL_EXPONENT`].
    #[error("number magnitude out of supported range")]
    OutOfRange,
}

/// An exact cty number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Number(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    /// value = (-1)^neg * digits * 10^exp; `digits` are ASCII digits without
    /// leading or trailing zeros; zero is `digits` empty, `exp` 0, `neg` false.
    Finite {
        neg: bool,
        digits: Vec<u8>,
        exp: i64,
    },
    Infinity {
        neg: bool,
    },
}

impl Number {
    /// Zero.
    pub fn zero() -> Self {
        Number(Repr::Finite {
            neg: false,
            digits: Vec::new(),
            exp: 0,
        })
    }

    /// Positive infinity.
    pub fn infinity() -> Self {
        Number(Repr::Infinity { neg: false })
    }

    /// Negative infinity.
    pub fn neg_infinity() -> Self {
        Number(Repr::Infinity { neg: true })
    }

    fn finite(neg: bool, mut digits: Vec<u8>, mut exp: i64) -> Self {
        let lead = digits.iter().take_while(|d| **d == b'0').count();
        digits.drain(..lead);
        while digits.last() == Some(&b'0') {
            digits.pop();
            exp += 1;
        }
        if digits.is_empty() {
            return Number::zero();
        }
        Number(Repr::Finite { neg, digits, exp })
    }

    fn from_i128(v: i128) -> Self {
        let neg = v < 0;
        let digits = v.unsigned_abs().to_string().into_bytes();
        Number::finite(neg, digits, 0)
    }

    /// An exact integer.
    pub fn from_i64(v: i64) -> Self {
        Number::from_i128(i128::from(v))
    }

    /// An exact integer.
    pub fn from_u64(v: u64) -> Self {
        Number::from_i128(i128::from(v))
    }

    /// The exact value of a float (every finite binary float has a finite
    /// decimal expansion). `None` for NaN, which cty cannot represent.
    pub fn from_f64(v: f64) -> Option<Self> {
        if v.is_nan() {
            return None;
        }
        if v.is_infinite() {
            return Some(Number(Repr::Infinity { neg: v < 0.0 }));
        }
        if v == 0.0 {
            return Some(Number::zero());
        }
        let bits = v.to_bits();
        let neg = bits >> 63 == 1;
        let exp_bits = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1u64 << 52) - 1);
        let (mantissa, exp2) = if exp_bits == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), exp_bits - 1075)
        };
        let mut big = BigDec::from_u64(mantissa);
        let exp10 = if exp2 >= 0 {
            let mut left = exp2;
            while left > 0 {
                let step = left.min(29);
                big.mul_small(1u32 << step);
                left -= step;
            }
            0
        } else {
            // m * 2^-k == m * 5^k * 10^-k
            let mut left = -exp2;
            while left > 0 {
                let step = left.min(13);
                big.mul_small(5u32.pow(step as u32));
                left -= step;
            }
            exp2
        };
        Some(Number::finite(neg, big.to_digits(), exp10))
    }

    /// Parses decimal text: an optional sign, digits with an optional
    /// fraction, an optional exponent (`-12.5e3`), or `Inf`/`inf` with an
    /// optional sign (as Go's `big.ParseFloat` accepts).
    pub fn parse(s: &str) -> Result<Self, NumberError> {
        let syntax = || NumberError::Syntax(truncate_for_error(s));
        let bytes = s.as_bytes();
        let (neg, rest) = match bytes.first() {
            Some(b'-') => (true, &bytes[1..]),
            Some(b'+') => (false, &bytes[1..]),
            _ => (false, bytes),
        };
        if rest == b"Inf" || rest == b"inf" || rest == b"Infinity" || rest == b"infinity" {
            return Ok(Number(Repr::Infinity { neg }));
        }
        let mut i = 0;
        let mut digits = Vec::with_capacity(rest.len());
        while i < rest.len() && rest[i].is_ascii_digit() {
            digits.push(rest[i]);
            i += 1;
        }
        let int_len = digits.len();
        let mut frac_len: i64 = 0;
        if i < rest.len() && rest[i] == b'.' {
            i += 1;
            while i < rest.len() && rest[i].is_ascii_digit() {
                digits.push(rest[i]);
                frac_len += 1;
                i += 1;
            }
        }
        if digits.is_empty() {
            return Err(syntax());
        }
        let _ = int_len;
        let mut exp: i64 = 0;
        if i < rest.len() && (rest[i] == b'e' || rest[i] == b'E') {
            i += 1;
            let eneg = match rest.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let start = i;
            while i < rest.len() && rest[i].is_ascii_digit() {
                // Saturate: anything this large is out of range anyway
                // (unless the mantissa is zero).
                exp = exp
                    .saturating_mul(10)
                    .saturating_add(i64::from(rest[i] - b'0'));
                i += 1;
            }
            if i == start {
                return Err(syntax());
            }
            if eneg {
                exp = -exp;
            }
        }
        if i != rest.len() {
            return Err(syntax());
        }
        let n = Number::finite(neg, digits, exp.saturating_sub(frac_len));
        if let Repr::Finite { digits, exp, .. } = &n.0 {
            let len = digits.len() as i64;
            if !digits.is_empty()
                && (exp.saturating_add(len) > MAX_DECIMAL_EXPONENT
                    || *exp < -MAX_DECIMAL_EXPONENT.saturating_mul(2))
            {
                return Err(NumberError::OutOfRange);
            }
        }
        Ok(n)
    }

    /// True for ±infinity.
    pub fn is_infinite(&self) -> bool {
        matches!(self.0, Repr::Infinity { .. })
    }

    /// True for a finite whole number.
    pub fn is_integer(&self) -> bool {
        matches!(self.0, Repr::Finite { exp, .. } if exp >= 0)
    }

    /// True if negative (including negative infinity).
    pub fn is_negative(&self) -> bool {
        match &self.0 {
            Repr::Finite { neg, .. } | Repr::Infinity { neg } => *neg,
        }
    }

    fn to_i128(&self) -> Option<i128> {
        match &self.0 {
            Repr::Finite { neg, digits, exp } if *exp >= 0 => {
                if digits.len() as i64 + exp > 38 {
                    return None;
                }
                let mut v: i128 = 0;
                for d in digits {
                    v = v.checked_mul(10)?.checked_add(i128::from(d - b'0'))?;
                }
                for _ in 0..*exp {
                    v = v.checked_mul(10)?;
                }
                Some(if *neg { -v } else { v })
            }
            _ => None,
        }
    }

    /// The value as `i64` if it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        self.to_i128().and_then(|v| i64::try_from(v).ok())
    }

    /// The value as `u64` if it is a non-negative integer in range.
    pub fn as_u64(&self) -> Option<u64> {
        self.to_i128().and_then(|v| u64::try_from(v).ok())
    }

    /// The nearest `f64` (correctly rounded; ±inf beyond the range).
    pub fn as_f64(&self) -> f64 {
        match &self.0 {
            Repr::Infinity { neg: false } => f64::INFINITY,
            Repr::Infinity { neg: true } => f64::NEG_INFINITY,
            Repr::Finite { digits, .. } if digits.is_empty() => 0.0,
            Repr::Finite { neg, digits, exp } => {
                let mut s = String::with_capacity(digits.len() + 24);
                if *neg {
                    s.push('-');
                }
                s.push_str(std::str::from_utf8(digits).unwrap_or("0"));
                s.push('e');
                s.push_str(&exp.to_string());
                s.parse::<f64>().unwrap_or(f64::NAN)
            }
        }
    }

    /// True if the value is exactly a finite `f64`.
    pub fn is_exact_f64(&self) -> bool {
        let f = self.as_f64();
        f.is_finite() && Number::from_f64(f).as_ref() == Some(self)
    }

    fn magnitude_cmp(a: (&[u8], i64), b: (&[u8], i64)) -> Ordering {
        // Both non-zero. Compare the position of the most significant digit.
        let (ad, ae) = a;
        let (bd, be) = b;
        let a_top = ae + ad.len() as i64;
        let b_top = be + bd.len() as i64;
        if a_top != b_top {
            return a_top.cmp(&b_top);
        }
        let n = ad.len().max(bd.len());
        for i in 0..n {
            let x = ad.get(i).copied().unwrap_or(b'0');
            let y = bd.get(i).copied().unwrap_or(b'0');
            if x != y {
                return x.cmp(&y);
            }
        }
        Ordering::Equal
    }
}

fn truncate_for_error(s: &str) -> String {
    s.chars().take(64).collect()
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        use Repr::*;
        let sign = |n: &Number| -> i8 {
            match &n.0 {
                Infinity { neg } | Finite { neg, .. } if *neg => -1,
                Finite { digits, .. } if digits.is_empty() => 0,
                _ => 1,
            }
        };
        let (sa, sb) = (sign(self), sign(other));
        if sa != sb {
            return sa.cmp(&sb);
        }
        let mag = match (&self.0, &other.0) {
            (Infinity { .. }, Infinity { .. }) => Ordering::Equal,
            (Infinity { .. }, _) => Ordering::Greater,
            (_, Infinity { .. }) => Ordering::Less,
            (
                Finite {
                    digits: ad,
                    exp: ae,
                    ..
                },
                Finite {
                    digits: bd,
                    exp: be,
                    ..
                },
            ) => {
                if ad.is_empty() {
                    return Ordering::Equal; // both zero (same sign 0)
                }
                Number::magnitude_cmp((ad, *ae), (bd, *be))
            }
        };
        if sa < 0 { mag.reverse() } else { mag }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Canonical decimal text without exponent (like Go's `big.Float.Text('f', -1)`):
/// `0`, `-12.5`, `12345678901234567890123`, `0.001`; infinities as `+Inf` / `-Inf`.
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Infinity { neg } => f.write_str(if *neg { "-Inf" } else { "+Inf" }),
            Repr::Finite { digits, .. } if digits.is_empty() => f.write_str("0"),
            Repr::Finite { neg, digits, exp } => {
                let ds = std::str::from_utf8(digits).map_err(|_| fmt::Error)?;
                if *neg {
                    f.write_str("-")?;
                }
                if *exp >= 0 {
                    f.write_str(ds)?;
                    for _ in 0..*exp {
                        f.write_str("0")?;
                    }
                    Ok(())
                } else {
                    let point = digits.len() as i64 + exp;
                    if point > 0 {
                        let (a, b) = ds.split_at(point as usize);
                        write!(f, "{a}.{b}")
                    } else {
                        f.write_str("0.")?;
                        for _ in 0..(-point) {
                            f.write_str("0")?;
                        }
                        f.write_str(ds)
                    }
                }
            }
        }
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

impl std::str::FromStr for Number {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Number::parse(s)
    }
}

impl From<i64> for Number {
    fn from(v: i64) -> Self {
        Number::from_i64(v)
    }
}

impl From<u64> for Number {
    fn from(v: u64) -> Self {
        Number::from_u64(v)
    }
}

impl From<i32> for Number {
    fn from(v: i32) -> Self {
        Number::from_i64(i64::from(v))
    }
}

impl From<u32> for Number {
    fn from(v: u32) -> Self {
        Number::from_u64(u64::from(v))
    }
}

/// Minimal unsigned big integer in base 10^9, enough for exact float
/// expansion.
struct BigDec {
    limbs: Vec<u32>, // little endian, base 1e9
}

const BASE: u64 = 1_000_000_000;

impl BigDec {
    fn from_u64(mut v: u64) -> Self {
        let mut limbs = Vec::new();
        while v > 0 {
            limbs.push((v % BASE) as u32);
            v /= BASE;
        }
        BigDec { limbs }
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry: u64 = 0;
        for limb in &mut self.limbs {
            let t = u64::from(*limb) * u64::from(m) + carry;
            *limb = (t % BASE) as u32;
            carry = t / BASE;
        }
        while carry > 0 {
            self.limbs.push((carry % BASE) as u32);
            carry /= BASE;
        }
    }

    fn to_digits(&self) -> Vec<u8> {
        let mut out = String::new();
        let mut iter = self.limbs.iter().rev();
        if let Some(top) = iter.next() {
            out.push_str(&top.to_string());
        }
        for limb in iter {
            out.push_str(&format!("{limb:09}"));
        }
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn parse_and_display_canonical() {
        assert_eq!(n("0").to_string(), "0");
        assert_eq!(n("-0").to_string(), "0");
        assert_eq!(n("-0.0e10").to_string(), "0");
        assert_eq!(n("1.50").to_string(), "1.5");
        assert_eq!(n("001.50"), n("1.5"));
        assert_eq!(n("-12.5e3").to_string(), "-12500");
        assert_eq!(n("1e-3").to_string(), "0.001");
        assert_eq!(n(".5").to_string(), "0.5");
        assert_eq!(n("5.").to_string(), "5");
        assert_eq!(n("+7").to_string(), "7");
        assert_eq!(
            n("12345678901234567890123").to_string(),
            "12345678901234567890123"
        );
        assert_eq!(n("1E2"), Number::from_i64(100));
        assert_eq!(n("Inf"), Number::infinity());
        assert_eq!(n("-inf"), Number::neg_infinity());
        assert_eq!(Number::infinity().to_string(), "+Inf");
        assert_eq!(n("0e999999999999999999999"), Number::zero());
    }

    #[test]
    fn parse_rejects_garbage() {
        for s in [
            "", "-", ".", "e5", "1e", "1e+", "1.2.3", "0x10", " 1", "1 ", "NaN", "1_000", "--1",
        ] {
            assert!(
                matches!(Number::parse(s), Err(NumberError::Syntax(_))),
                "{s:?}"
            );
        }
        assert_eq!(Number::parse("1e999999"), Err(NumberError::OutOfRange));
        assert_eq!(
            Number::parse("1e-99999999999999999999"),
            Err(NumberError::OutOfRange)
        );
        assert!(Number::parse("1e400").is_ok());
    }

    #[test]
    fn integers() {
        assert_eq!(
            Number::from_i64(i64::MIN).to_string(),
            "-9223372036854775808"
        );
        assert_eq!(
            Number::from_u64(u64::MAX).to_string(),
            "18446744073709551615"
        );
        assert_eq!(Number::from_u64(u64::MAX).as_u64(), Some(u64::MAX));
        assert_eq!(Number::from_u64(u64::MAX).as_i64(), None);
        assert_eq!(Number::from_i64(-5).as_u64(), None);
        assert_eq!(Number::from_i64(-5).as_i64(), Some(-5));
        assert_eq!(n("1.5").as_i64(), None);
        assert_eq!(n("1e3").as_i64(), Some(1000));
        assert_eq!(n("1e40").as_i64(), None);
        assert!(n("1e3").is_integer());
        assert!(!n("0.1").is_integer());
        assert!(Number::zero().is_integer());
        assert!(!Number::infinity().is_integer());
    }

    #[test]
    fn floats_are_exact() {
        let tenth = Number::from_f64(0.1).unwrap();
        assert_eq!(
            tenth.to_string(),
            "0.1000000000000000055511151231257827021181583404541015625"
        );
        assert!(tenth.is_exact_f64());
        assert_eq!(tenth.as_f64(), 0.1);
        assert!(!n("0.1").is_exact_f64());
        assert!(n("0.5").is_exact_f64());
        assert_eq!(Number::from_f64(-0.0).unwrap(), Number::zero());
        assert_eq!(Number::from_f64(f64::NAN), None);
        assert_eq!(Number::from_f64(f64::INFINITY), Some(Number::infinity()));
        assert_eq!(Number::from_f64(1e300).unwrap().as_f64(), 1e300);
        assert_eq!(Number::from_f64(f64::MAX).unwrap().as_f64(), f64::MAX);
        let tiny = f64::from_bits(1); // smallest subnormal
        assert_eq!(Number::from_f64(tiny).unwrap().as_f64(), tiny);
        assert_eq!(
            Number::from_f64(2.0f64.powi(70)).unwrap().to_string(),
            "1180591620717411303424"
        );
        assert!(!n("1e400").is_exact_f64());
        assert_eq!(n("1e400").as_f64(), f64::INFINITY);
    }

    #[test]
    fn ordering() {
        let mut v = vec![
            n("3"),
            n("-1e5"),
            Number::infinity(),
            n("0.001"),
            n("0"),
            Number::neg_infinity(),
            n("-0.5"),
            n("12345678901234567890123"),
            n("2.99999"),
        ];
        v.sort();
        let s: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        assert_eq!(
            s,
            [
                "-Inf",
                "-100000",
                "-0.5",
                "0",
                "0.001",
                "2.99999",
                "3",
                "12345678901234567890123",
                "+Inf"
            ]
        );
    }
}
