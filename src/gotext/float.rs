//! Go's number formatting, as sops's stores and its MAC rely on it.

/// Shortest round-trip decimal digits and decimal exponent of a finite, non-zero `f`:
/// `f = 0.d1d2d3... × 10^dp`.
fn shortest_digits(f: f64) -> (String, i32) {
    // `{:e}` prints the shortest round-trip digits: "1.234567e6", "-2.5e-7".
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    (digits.to_string(), exp + 1)
}

fn special(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f == f64::INFINITY {
        Some("+Inf")
    } else if f == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// Go `strconv.FormatFloat(f, 'f', -1, 64)`: the form sops puts inside a float ciphertext and
/// feeds to the MAC.
pub fn float_f(f: f64) -> String {
    if let Some(s) = special(f) {
        return s.to_string();
    }
    // Rust's Display is the shortest round-trip decimal without exponent, like Go's 'f', -1.
    format!("{f}")
}

/// Go exponent form with the given shortest digits: `1.234567e+06`.
fn exp_form(neg: bool, digits: &str, dp: i32, e: char) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let x = dp - 1;
    out.push(e);
    out.push(if x < 0 { '-' } else { '+' });
    let a = x.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
    out
}

/// Go `strconv.FormatFloat(f, 'g', -1, 64)` (YAML output), or `'G'` when `upper`.
pub fn float_g(f: f64, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let (digits, dp) = shortest_digits(f);
    let x = dp - 1;
    if !(-4..6).contains(&x) {
        exp_form(f < 0.0, &digits, dp, if upper { 'E' } else { 'e' })
    } else {
        float_f(f)
    }
}

/// How Go's `encoding/json` writes a float64.
pub fn float_json(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let (digits, dp) = shortest_digits(f);
        let s = exp_form(f < 0.0, &digits, dp, 'e');
        // Go cleans e-07 to e-7 (and e+07 would not occur below 1e21 anyway).
        s.replace("e-0", "e-").replace("e+0", "e+")
    } else {
        float_f(f)
    }
}

/// sops's `ValToString` for floats (dotenv, INI, exec-env): `'G'` with a forced `.0`.
pub fn float_val_to_string(f: f64) -> String {
    let s = float_g(f, true);
    if s.contains('.') || s.contains('E') || s.contains("Inf") || s == "NaN" {
        s
    } else {
        format!("{s}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f_format() {
        assert_eq!(float_f(1.5), "1.5");
        assert_eq!(float_f(3.0), "3");
        assert_eq!(float_f(1e21), "1000000000000000000000");
        assert_eq!(float_f(0.00000025), "0.00000025");
        assert_eq!(float_f(-0.0), "-0");
        assert_eq!(float_f(f64::INFINITY), "+Inf");
        assert_eq!(float_f(f64::NAN), "NaN");
    }

    #[test]
    fn g_format() {
        assert_eq!(float_g(100000.0, false), "100000");
        assert_eq!(float_g(1234567.0, false), "1.234567e+06");
        assert_eq!(float_g(1e21, false), "1e+21");
        assert_eq!(float_g(0.0001, false), "0.0001");
        assert_eq!(float_g(0.00001, false), "1e-05");
        assert_eq!(float_g(3.0, false), "3");
        assert_eq!(float_g(1.5e300, false), "1.5e+300");
    }

    #[test]
    fn json_format() {
        assert_eq!(float_json(2.5e-7), "2.5e-7");
        assert_eq!(float_json(1e300), "1e+300");
        assert_eq!(float_json(1.0), "1");
        assert_eq!(float_json(1e21), "1e+21");
        assert_eq!(float_json(123456789.0), "123456789");
    }

    #[test]
    fn val_to_string() {
        assert_eq!(float_val_to_string(3.0), "3.0");
        assert_eq!(float_val_to_string(100000.0), "100000.0");
        assert_eq!(float_val_to_string(1234567.0), "1.234567E+06");
        assert_eq!(float_val_to_string(0.00001), "1E-05");
        assert_eq!(float_val_to_string(f64::INFINITY), "+Inf");
    }
}
