//! The record layouts (データレイアウト仕様) and code tables of format
//! version 1 (1.0: 01-01, 01-02; 1.1 adds 02-01 印鑑登録).
//! `docs/migration-format.md` prints these tables; a test keeps the two the
//! same.

/// Data type of a field, as in the 中間標準レイアウト仕様.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 英数字 (`X`): printable ASCII, left-aligned, padded with spaces.
    X,
    /// 数字 (`9`): ASCII digits, exactly the field's length (dates YYYYMMDD,
    /// `00000000` when there is none).
    Nine,
    /// 日本語 (`N`): any text, left-aligned, padded with spaces; its length
    /// counts bytes in the file's encoding, escapes included.
    N,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::X => "X",
            Kind::Nine => "9",
            Kind::N => "N",
        }
    }
}

/// A code table (コード表): code → label.
#[derive(Debug)]
pub struct CodeTable {
    pub name: &'static str,
    pub values: &'static [(&'static str, &'static str)],
}

impl CodeTable {
    pub fn label(&self, code: &str) -> Option<&'static str> {
        self.values
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, l)| *l)
    }
}

#[derive(Debug)]
pub struct Field {
    /// ASCII key (the variant name), used in messages for scripts.
    pub key: &'static str,
    /// 項目名
    pub name: &'static str,
    pub kind: Kind,
    /// 桁数: bytes in a fixed-length record.
    pub bytes: usize,
    /// 必須 (required for every record).
    pub required: bool,
    pub code: Option<&'static CodeTable>,
    /// 項目説明
    pub note: &'static str,
}

/// One file's layout.
#[derive(Debug)]
pub struct Layout {
    /// e.g. `01-01`
    pub id: &'static str,
    /// e.g. 住民基本台帳
    pub name: &'static str,
    /// File name without extension, e.g. `01-01_juminkihon`.
    pub stem: &'static str,
    pub description: &'static str,
    pub fields: &'static [Field],
}

impl Layout {
    /// Bytes of a fixed-length record, without the CR LF.
    pub fn record_bytes(&self) -> usize {
        self.fields.iter().map(|f| f.bytes).sum()
    }

    /// Byte offset of each field in a fixed-length record.
    pub fn offsets(&self) -> Vec<usize> {
        let mut at = 0;
        self.fields
            .iter()
            .map(|f| {
                let o = at;
                at += f.bytes;
                o
            })
            .collect()
    }
}

pub static MUNICIPALITY: CodeTable = CodeTable {
    name: "地方公共団体",
    values: &[(
        "nnnnn",
        "全国地方公共団体コードの上5桁 (都道府県2桁 + 市区町村3桁; 検査数字を除く)",
    )],
};

pub static RESIDENT_KIND: CodeTable = CodeTable {
    name: "住民種別",
    values: &[("1", "日本人住民"), ("2", "外国人住民")],
};

pub static STATUS: CodeTable = CodeTable {
    name: "住民状態",
    values: &[
        ("1", "住民"),
        ("2", "転出予定"),
        ("3", "転出 (除票)"),
        ("4", "死亡 (除票)"),
        ("5", "職権消除 (除票)"),
    ],
};

pub static SEX: CodeTable = CodeTable {
    name: "性別",
    values: &[("1", "男"), ("2", "女"), ("9", "その他・不詳")],
};

pub static ERA: CodeTable = CodeTable {
    name: "年号",
    values: &[
        ("01", "明治"),
        ("02", "大正"),
        ("03", "昭和"),
        ("04", "平成"),
        ("05", "令和"),
        ("00", "西暦 (明治より前)"),
    ],
};

pub static EVENT: CodeTable = CodeTable {
    name: "異動事由",
    values: &[
        ("01", "転入"),
        ("02", "出生"),
        ("03", "職権記載"),
        ("04", "転入 (転入通知による)"),
        ("10", "転居"),
        ("11", "転出予定"),
        ("12", "転出 (転出確定)"),
        ("13", "死亡"),
        ("14", "職権消除"),
        ("15", "転出取消 (転出予定の取消, 1.2)"),
        ("20", "世帯変更 (世帯分離・合併・世帯主変更)"),
        ("21", "氏名変更"),
        (
            "22",
            "旧氏記載 (旧氏の記載・変更: 氏に旧氏、氏フリガナにそのフリガナ, 1.3)",
        ),
        ("23", "旧氏削除 (1.3)"),
        (
            "24",
            "通称記載 (通称の記載・変更: 通称に通称、氏フリガナにそのフリガナ, 1.3)",
        ),
        ("25", "通称削除 (1.3)"),
        ("26", "宛名番号付番 (備考に宛名番号 15 桁, 1.3)"),
        ("30", "職権修正"),
        ("40", "支援措置開始"),
        ("41", "支援措置終了"),
    ],
};

pub static CORRECTABLE: CodeTable = CodeTable {
    name: "修正項目",
    values: &[
        ("family_name", "氏"),
        ("given_name", "名"),
        ("family_kana", "氏フリガナ"),
        ("given_kana", "名フリガナ"),
        ("birth_date", "生年月日 (修正後の値は YYYY-MM-DD)"),
        ("sex", "性別 (修正後の値は性別コード)"),
        ("katagaki", "方書"),
        ("relationship", "続柄"),
        ("honseki", "本籍"),
        ("hittosha", "筆頭者"),
        ("nationality", "国籍・地域"),
        ("residence_status", "在留資格"),
        (
            "kana_confirmed",
            "フリガナ確認フラグ (修正後の値は 1 確認済・0 未確認, 1.3)",
        ),
    ],
};

/// 印鑑登録処理区分: what a 02-01 record records. 11–13 are the 廃止事由
/// (why a registration ended).
pub static SEAL_EVENT: CodeTable = CodeTable {
    name: "印鑑登録処理区分",
    values: &[
        ("01", "登録"),
        ("11", "廃止 (登録者の申請による)"),
        ("12", "亡失 (印鑑登録証の亡失による廃止)"),
        ("13", "職権抹消 (転出・死亡などによる)"),
    ],
};

/// Every code table, in the order the spec lists them.
pub static CODE_TABLES: [&CodeTable; 8] = [
    &MUNICIPALITY,
    &RESIDENT_KIND,
    &STATUS,
    &SEX,
    &ERA,
    &EVENT,
    &CORRECTABLE,
    &SEAL_EVENT,
];

macro_rules! layout {
    ($module:ident, $id:literal, $name:literal, $stem:literal, $desc:literal,
     [$( $key:ident = ($ja:literal, $kind:ident, $bytes:literal, $req:literal, $code:expr, $note:literal) ),* $(,)?]) => {
        pub mod $module {
            use super::*;
            /// Field positions.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum F { $($key),* }
            pub static LAYOUT: Layout = Layout {
                id: $id,
                name: $name,
                stem: $stem,
                description: $desc,
                fields: &[ $( Field {
                    key: stringify!($key),
                    name: $ja,
                    kind: Kind::$kind,
                    bytes: $bytes,
                    required: $req,
                    code: $code,
                    note: $note,
                } ),* ],
            };
        }
    };
}

layout!(
    base,
    "01-01",
    "住民基本台帳",
    "01-01_juminkihon",
    "住民基本台帳に記録された者 (除票を含む) の、最後の異動を反映した記載事項。1人1レコード、住民票コード順。01-02 異動履歴を順に適用した結果と一致しなければならない。",
    [
        Municipality = (
            "市町村コード",
            X,
            5,
            true,
            Some(&MUNICIPALITY),
            "移行する市町村。取り込み先の団体と一致すること"
        ),
        Identity = (
            "識別番号",
            X,
            15,
            true,
            None,
            "人を統一的に管理する番号。本形式では住民票コードを左詰めで設定し、01-02 との突合に用いる"
        ),
        ResidentCode = ("住民票コード", X, 11, true, None, "11桁 (検査数字付き)"),
        Kind = ("住民種別", X, 1, true, Some(&RESIDENT_KIND), ""),
        Status = ("住民状態", X, 1, true, Some(&STATUS), "除票は 3–5"),
        Household = ("世帯番号", X, 15, true, None, "同じ世帯の者は同じ番号"),
        Relationship = (
            "続柄",
            N,
            20,
            true,
            None,
            "世帯主との続柄 (世帯主, 妻, 子 …)"
        ),
        FamilyName = ("氏", N, 40, true, None, "外国人住民は氏名の姓"),
        GivenName = ("名", N, 40, false, None, ""),
        FamilyKana = ("氏フリガナ", N, 40, true, None, "全角カタカナ"),
        GivenKana = ("名フリガナ", N, 40, false, None, "全角カタカナ"),
        Romaji = ("ローマ字氏名", N, 80, false, None, "外国人住民"),
        Alias = ("通称", N, 40, false, None, "外国人住民"),
        Sex = ("性別", X, 1, true, Some(&SEX), ""),
        Era = (
            "年号",
            X,
            2,
            true,
            Some(&ERA),
            "生年月日の元号。生年月日から定まる値と一致すること"
        ),
        BirthDate = ("生年月日", Nine, 8, true, None, "西暦 YYYYMMDD"),
        Honseki = ("本籍", N, 160, false, None, "日本人住民は必須"),
        Hittosha = ("筆頭者", N, 40, false, None, "日本人住民"),
        Nationality = ("国籍・地域", N, 40, false, None, "外国人住民は必須"),
        ResidenceStatus = ("在留資格", N, 40, false, None, "外国人住民は必須"),
        PeriodUntil = (
            "在留期間等の満了の日",
            Nine,
            8,
            false,
            None,
            "外国人住民; なければ 00000000"
        ),
        Address = ("住所", N, 160, true, None, "都道府県から"),
        Katagaki = ("方書", N, 80, false, None, "建物名・部屋番号"),
        BecameResident = (
            "住民となった年月日",
            Nine,
            8,
            true,
            None,
            "最後の記載 (転入・出生・職権記載) の異動日"
        ),
        AddressSince = (
            "住所を定めた年月日",
            Nine,
            8,
            true,
            None,
            "最後の転入または転居の異動日"
        ),
        EntryReason = (
            "住民となった事由",
            X,
            2,
            true,
            Some(&EVENT),
            "異動事由 01–04"
        ),
        PreviousAddress = ("前住所", N, 160, false, None, "転入の場合は必須"),
        NoticeNumber = ("転入通知番号", X, 20, false, None, "異動事由 04"),
        EntryNote = ("記載事由", N, 80, false, None, "職権記載の事由"),
        MoveOutDate = ("転出予定日", Nine, 8, false, None, "住民状態 2"),
        Destination = ("転出先", N, 160, false, None, "住民状態 2 または 3"),
        RemovedDate = ("消除日", Nine, 8, false, None, "住民状態 3–5"),
        RemovalReason = (
            "消除事由",
            X,
            2,
            false,
            Some(&EVENT),
            "異動事由 12–14; 住民状態と一致すること"
        ),
        RemovalNote = ("消除事由詳細", N, 80, false, None, "職権消除の事由"),
        ProtectedUntil = (
            "支援措置期限",
            Nine,
            8,
            false,
            None,
            "支援措置 (DV等) が続く最後の日"
        ),
        ProtectionReason = (
            "支援措置事由",
            N,
            40,
            false,
            None,
            "DV, ストーカー, 児童虐待 …"
        ),
    ]
);

layout!(
    history,
    "01-02",
    "異動履歴",
    "01-02_idorireki",
    "住民記録の異動 (転入から職権修正まで) 1件1レコード、記録された順。取り込みはこの順に台帳へ記録する。各レコードは異動事由ごとに下表の「使う項目」だけを持ち、ほかは空白 (数字項目は 0)。",
    [
        Municipality = ("市町村コード", X, 5, true, Some(&MUNICIPALITY), ""),
        Identity = ("識別番号", X, 15, true, None, "01-01 の識別番号"),
        ResidentCode = ("住民票コード", X, 11, true, None, ""),
        Serial = ("異動連番", Nine, 10, true, None, "ファイル内の通番 (1から)"),
        Event = ("異動事由", X, 2, true, Some(&EVENT), ""),
        EffectiveDate = ("異動日", Nine, 8, true, None, "異動の効力が生じた日"),
        NotifiedDate = (
            "届出日",
            Nine,
            8,
            false,
            None,
            "01–04, 10–14, 20, 21 は必須"
        ),
        Household = ("世帯番号", X, 15, false, None, "01–04, 20"),
        Relationship = ("続柄", N, 20, false, None, "01–04, 20"),
        FamilyName = ("氏", N, 40, false, None, "01–04, 21"),
        GivenName = ("名", N, 40, false, None, "01–04, 21"),
        FamilyKana = ("氏フリガナ", N, 40, false, None, "01–04, 21"),
        GivenKana = ("名フリガナ", N, 40, false, None, "01–04, 21"),
        Romaji = ("ローマ字氏名", N, 80, false, None, "01–04"),
        Alias = ("通称", N, 40, false, None, "01–04, 24"),
        Sex = ("性別", X, 1, false, Some(&SEX), "01–04"),
        Era = ("年号", X, 2, false, Some(&ERA), "01–04"),
        BirthDate = ("生年月日", Nine, 8, false, None, "01–04"),
        Kind = ("住民種別", X, 1, false, Some(&RESIDENT_KIND), "01–04"),
        Honseki = ("本籍", N, 160, false, None, "01–04 (日本人住民)"),
        Hittosha = ("筆頭者", N, 40, false, None, "01–04 (日本人住民)"),
        Nationality = ("国籍・地域", N, 40, false, None, "01–04 (外国人住民)"),
        ResidenceStatus = ("在留資格", N, 40, false, None, "01–04 (外国人住民)"),
        PeriodUntil = (
            "在留期間等の満了の日",
            Nine,
            8,
            false,
            None,
            "01–04 (外国人住民)"
        ),
        Address = ("住所", N, 160, false, None, "01–04, 10"),
        Katagaki = ("方書", N, 80, false, None, "01–04, 10"),
        OtherAddress = (
            "前住所・転出先",
            N,
            160,
            false,
            None,
            "01, 04: 前住所; 11, 12: 転出先"
        ),
        NoticeNumber = ("転入通知番号", X, 20, false, None, "04"),
        Date = (
            "期日",
            Nine,
            8,
            false,
            None,
            "11: 転出予定日; 40: 支援措置期限"
        ),
        Item = ("修正項目", X, 20, false, Some(&CORRECTABLE), "30"),
        Value = ("修正後の値", N, 160, false, None, "30"),
        Note = (
            "事由",
            N,
            80,
            false,
            None,
            "03: 記載事由; 14: 消除事由; 15: 取消の事由; 30: 修正事由; 40, 41: 支援措置の事由"
        ),
    ]
);

layout!(
    seal,
    "02-01",
    "印鑑登録",
    "02-01_inkan",
    "印鑑登録の処理 (登録と、廃止・亡失・職権抹消) 1件1レコード、記録された順。取り込みは 01-02 異動履歴の後にこの順で台帳へ記録する。登録は登録日における住民記録 (01-02 を登録日まで適用したもの) に照らして検査する: 現に住民で15歳以上、1人1登録、印鑑登録証番号は有効な登録の間で重複しない。廃止するのは有効な登録だけ。印影は PNG ファイル `02-01_inkan/<印鑑登録番号>.png` に置き、登録のレコードがその名前と BLAKE3 を持つ。各レコードは処理区分ごとに下表の「使う項目」だけを持ち、ほかは空白 (数字項目は 0)。",
    [
        Municipality = ("市町村コード", X, 5, true, Some(&MUNICIPALITY), ""),
        Serial = ("処理連番", Nine, 10, true, None, "ファイル内の通番 (1から)"),
        Number = (
            "印鑑登録番号",
            X,
            20,
            true,
            None,
            "団体内で一意。英大文字・数字・ハイフン (先頭は英数字)。Murakumo が採番する番号は S-nnnnnnn"
        ),
        ResidentCode = (
            "住民票コード",
            X,
            11,
            true,
            None,
            "登録者。01-02 異動履歴にある者"
        ),
        Event = ("処理区分", X, 2, true, Some(&SEAL_EVENT), ""),
        RegisteredDate = ("登録日", Nine, 8, false, None, "01: 登録の効力が生じた日"),
        CardNumber = ("印鑑登録証番号", X, 20, false, None, "01: 英数字とハイフン"),
        Image = (
            "印影ファイル",
            X,
            40,
            false,
            None,
            "01: `02-01_inkan/<印鑑登録番号>.png` (データセットからの相対パス)"
        ),
        ImageHash = (
            "印影BLAKE3",
            X,
            64,
            false,
            None,
            "01: 印影ファイルの BLAKE3 (16進小文字64桁)"
        ),
        CancelledDate = (
            "廃止日",
            Nine,
            8,
            false,
            None,
            "11–13: 登録が効力を失った日"
        ),
        NotifiedDate = (
            "届出日",
            Nine,
            8,
            true,
            None,
            "01: 登録申請日; 11, 12: 廃止・亡失の届出日; 13: 職権抹消の処理日"
        ),
        Note = ("職権抹消事由", N, 80, false, None, "13 (空白可)"),
    ]
);

/// The layouts of the current format version, in file order.
pub static LAYOUTS: [&Layout; 3] = [&base::LAYOUT, &history::LAYOUT, &seal::LAYOUT];

/// The layout tables and code tables as Markdown (the body of
/// `docs/migration-format.md` between its markers).
pub fn markdown() -> String {
    let mut s = String::new();
    for l in LAYOUTS {
        s.push_str(&format!(
            "### {} {} (`{}.dat` / `{}.csv`)\n\n{}\n\n固定長レコード長: {} バイト + CR LF。\n\n",
            l.id,
            l.name,
            l.stem,
            l.stem,
            l.description,
            l.record_bytes()
        ));
        s.push_str("| No | 項目名 | key | 型 | 桁数 | 位置 | 必須 | コード表 | 説明 |\n");
        s.push_str("|---:|---|---|:-:|---:|---:|:-:|---|---|\n");
        for (i, (f, at)) in l.fields.iter().zip(l.offsets()).enumerate() {
            s.push_str(&format!(
                "| {} | {} | `{}` | {} | {} | {} | {} | {} | {} |\n",
                i + 1,
                f.name,
                f.key,
                f.kind.label(),
                f.bytes,
                at + 1,
                if f.required { "○" } else { "" },
                f.code.map_or("", |c| c.name),
                f.note
            ));
        }
        s.push('\n');
    }
    s.push_str("### コード表\n\n");
    for t in CODE_TABLES {
        s.push_str(&format!("**{}**\n\n| コード | 意味 |\n|---|---|\n", t.name));
        for (c, l) in t.values {
            s.push_str(&format!("| `{c}` | {l} |\n"));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_keys_match_positions() {
        assert_eq!(
            base::LAYOUT.fields[base::F::ResidentCode as usize].key,
            "ResidentCode"
        );
        assert_eq!(
            base::LAYOUT.fields[base::F::ProtectionReason as usize].key,
            "ProtectionReason"
        );
        assert_eq!(
            history::LAYOUT.fields[history::F::Note as usize].key,
            "Note"
        );
        assert_eq!(seal::LAYOUT.fields[seal::F::Note as usize].key, "Note");
        assert_eq!(seal::LAYOUT.record_bytes(), 276);
        for l in LAYOUTS {
            let mut keys: Vec<_> = l.fields.iter().map(|f| f.key).collect();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), l.fields.len(), "{}", l.id);
        }
    }

    #[test]
    fn the_spec_in_docs_is_the_layout_in_code() {
        let doc = include_str!("../../../docs/migration-format.md");
        let start = doc.find("<!-- layouts:begin -->").expect("begin marker");
        let end = doc.find("<!-- layouts:end -->").expect("end marker");
        let body = doc[start + "<!-- layouts:begin -->".len()..end].trim();
        if body != markdown().trim() {
            if std::env::var_os("UPDATE_DOCS").is_some() {
                let path = concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../docs/migration-format.md"
                );
                let text = format!(
                    "{}<!-- layouts:begin -->\n\n{}\n{}",
                    &doc[..start],
                    markdown(),
                    &doc[end..]
                );
                std::fs::write(path, text).expect("write docs");
                return;
            }
            panic!(
                "docs/migration-format.md is out of date with layout.rs; run UPDATE_DOCS=1 cargo test -p murakumo-migration the_spec_in_docs"
            );
        }
    }
}
