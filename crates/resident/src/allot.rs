//! 住民票コード for people recorded here for the first time (出生, 職権記載 of someone who
//! never had one): the next unused code of the range the prefecture allotted to the
//! municipality (住民基本台帳法 第30条の3), not a number a clerk makes up.

use murakumo_core::ResidentCode;

use crate::ResidentError;

/// The next 住民票コード after `highest` (the highest recorded code in the range, if any) in
/// the range of ten-digit bodies `first..=last`.
pub fn next_resident_code(
    (first, last): (u64, u64),
    highest: Option<&str>,
) -> Result<ResidentCode, ResidentError> {
    let next = match highest
        .and_then(|h| h.get(..10))
        .and_then(|b| b.parse::<u64>().ok())
    {
        Some(body) if body >= first => body + 1,
        _ => first,
    };
    if next > last {
        return Err(ResidentError::Invalid {
            field: "resident_code",
            reason: format!(
                "指定された住民票コードの範囲({first:010}〜{last:010})を使い切りました。都道府県から新しい範囲の指定を受け、団体管理者が設定 resident.code_range を変更してください"
            ),
        });
    }
    ResidentCode::from_ten_digits(&format!("{next:010}")).map_err(|e| ResidentError::Invalid {
        field: "resident_code",
        reason: e.message_ja(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_code_of_an_unused_range_then_the_next_of_the_highest() {
        let range = (1_234_500_000, 1_234_500_002);
        let first = next_resident_code(range, None).expect("first");
        assert_eq!(&first.as_str()[..10], "1234500000");
        assert_eq!(ResidentCode::parse(first.as_str()), Ok(first));
        let second = next_resident_code(range, Some(first.as_str())).expect("second");
        assert_eq!(&second.as_str()[..10], "1234500001");
    }

    #[test]
    fn an_exhausted_range_is_refused_with_what_to_do() {
        let range = (1_234_500_000, 1_234_500_001);
        let last = ResidentCode::from_ten_digits("1234500001").expect("code");
        let Err(ResidentError::Invalid { field, reason }) =
            next_resident_code(range, Some(last.as_str()))
        else {
            panic!("a code beyond the range");
        };
        assert_eq!(field, "resident_code");
        assert!(reason.contains("resident.code_range"), "{reason}");
    }
}
