//! Rolling a play out in batches: `serial` (a number, a percentage, or a
//! list of them whose last entry repeats) and the fail budget
//! `max_fail_percentage`, with Ansible's meaning.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BatchSize {
    Count(usize),
    Percent(f64),
}

/// A `serial` setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Serial(pub Vec<BatchSize>);

/// Why a `serial` setting was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SerialError {
    #[error("`{0}` is not a batch size: use a number like 2 or a percentage like \"25%\"")]
    NotABatchSize(String),
    #[error("`serial` must not be an empty list")]
    EmptyList,
}

fn parse_size(v: &Value) -> Result<BatchSize, SerialError> {
    let bad = || SerialError::NotABatchSize(v.to_string());
    match v {
        Value::Number(n) => n.as_u64().filter(|n| *n > 0).map(|n| BatchSize::Count(n as usize)).ok_or_else(bad),
        Value::String(s) => {
            let s = s.trim();
            if let Some(p) = s.strip_suffix('%') {
                let p: f64 = p.trim().parse().map_err(|_| bad())?;
                if p > 0.0 && p <= 100.0 {
                    return Ok(BatchSize::Percent(p));
                }
                return Err(bad());
            }
            s.parse::<usize>().ok().filter(|n| *n > 0).map(BatchSize::Count).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

impl Serial {
    /// From the play keyword: `2`, `"25%"` or `[1, 5, "25%"]`.
    pub fn from_json(v: &Value) -> Result<Serial, SerialError> {
        match v {
            Value::Array(items) if !items.is_empty() => {
                Ok(Serial(items.iter().map(parse_size).collect::<Result<_, _>>()?))
            }
            Value::Array(_) => Err(SerialError::EmptyList),
            other => Ok(Serial(vec![parse_size(other)?])),
        }
    }

    /// From the command line: `2`, `25%` or `1,5,25%`.
    pub fn from_arg(s: &str) -> Result<Serial, SerialError> {
        let items: Vec<Value> = s.split(',').map(|p| Value::String(p.trim().to_string())).collect();
        Serial::from_json(&Value::Array(items))
    }

    /// Batch sizes for `hosts` hosts: percentages of the whole play (at
    /// least one host), the last size repeating until every host has one.
    pub fn split(&self, hosts: usize) -> Vec<usize> {
        let mut sizes = Vec::new();
        let mut left = hosts;
        let mut i = 0;
        while left > 0 {
            let spec = self.0[i.min(self.0.len() - 1)];
            let size = match spec {
                BatchSize::Count(n) => n,
                BatchSize::Percent(p) => ((hosts as f64 * p / 100.0) as usize).max(1),
            };
            let size = size.min(left);
            sizes.push(size);
            left -= size;
            i += 1;
        }
        sizes
    }
}

/// Has a batch used up the fail budget? With a budget, more than that
/// percentage of the batch failed; without one, the whole batch failed.
pub fn budget_exceeded(failed: usize, batch: usize, max_fail_percentage: Option<f64>) -> bool {
    if batch == 0 || failed == 0 {
        return false;
    }
    match max_fail_percentage {
        Some(p) => (failed as f64) * 100.0 / (batch as f64) > p,
        None => failed == batch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_numbers_percentages_and_lists() {
        assert_eq!(Serial::from_json(&json!(2)).unwrap().split(5), [2, 2, 1]);
        assert_eq!(Serial::from_json(&json!("50%")).unwrap().split(6), [3, 3]);
        assert_eq!(Serial::from_json(&json!("10%")).unwrap().split(3), [1, 1, 1]);
        assert_eq!(Serial::from_json(&json!([1, 5, "25%"])).unwrap().split(20), [1, 5, 5, 5, 4]);
        assert_eq!(Serial::from_arg("1,2").unwrap().split(6), [1, 2, 2, 1]);
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert!(Serial::from_json(&json!(0)).is_err());
        assert!(Serial::from_json(&json!("150%")).is_err());
        assert!(Serial::from_json(&json!([])).is_err());
        assert!(Serial::from_arg("two").is_err());
    }

    #[test]
    fn fail_budget() {
        assert!(budget_exceeded(1, 2, Some(0.0)));
        assert!(!budget_exceeded(1, 2, Some(50.0)));
        assert!(budget_exceeded(2, 2, None));
        assert!(!budget_exceeded(1, 2, None));
    }
}
