//! Demo data (`shenfen seed-demo`, and automatically on a fresh demo database): acceptance points synthesised
//! from Hefei's sub-districts, and one staff account per role with documented passwords (docs/demo.md).
//! Synthetic residents live in the demo population registry (`registry.rs`); a deterministic past (accounts,
//! visits, payments, applications) for the statistics is made by [`history`].

use shenfen_store::{AcceptancePoint, DynStore, Role, Scope, ScopeKind, Staff, new_id};

pub mod history;

const TOWNSHIPS_CSV: &str = include_str!("../data/demo/hefei_urban_townships_nbs2023.csv");

/// (username, password, display name, role, scope kind, scope code; "POINT" = the first demo point in 蜀山区)
pub const DEMO_STAFF: &[(&str, &str, &str, Role, ScopeKind, &str)] = &[
    ("admin", "shenfen-admin-demo", "省厅管理员（演示）", Role::Admin, ScopeKind::Province, "34"),
    ("reviewer", "shenfen-review-demo", "蜀山分局审核民警（演示）", Role::Reviewer, ScopeKind::District, "340104"),
    ("reviewer.yaohai", "shenfen-review-demo", "瑶海分局审核民警（演示）", Role::Reviewer, ScopeKind::District, "340102"),
    ("counter", "shenfen-counter-demo", "窗口受理员（演示）", Role::Counter, ScopeKind::Point, "POINT"),
    ("production", "shenfen-production-demo", "制证中心（演示）", Role::Production, ScopeKind::Province, "34"),
];

/// Demo acceptance points: one per urban sub-district, spread on a golden-angle spiral around the district
/// centre so that they do not sit on top of each other on the map. Deterministic, so ids are stable.
pub fn demo_points(now_ms: i64) -> Vec<AcceptancePoint> {
    let mut out = Vec::new();
    for (i, line) in TOWNSHIPS_CSV.lines().skip(1).enumerate() {
        let cols: Vec<&str> = line.split(',').collect();
        let [town_code, town, county_code, county, lng, lat] = cols[..] else { continue };
        let (Ok(lng), Ok(lat)) = (lng.parse::<f64>(), lat.parse::<f64>()) else { continue };
        let angle = (i as f64) * 137.508_f64.to_radians();
        let radius = 0.010 + 0.004 * (i % 5) as f64;
        out.push(AcceptancePoint::with_defaults(
            format!("demo-{town_code}"),
            format!("{town}户政服务窗口（演示）"),
            county_code.to_string(),
            format!("安徽省合肥市{county}{town}（演示地址）"),
            format!("0551-0000{:04}", i + 1),
            lat + radius * angle.sin(),
            lng + radius * angle.cos() * 1.15,
            true,
            now_ms,
        ));
    }
    out
}

/// Inserts demo points and staff where none exist yet. Safe to run repeatedly.
pub async fn seed(store: &DynStore, now_ms: i64) -> anyhow::Result<SeedReport> {
    let mut report = SeedReport::default();
    if store.list_points().await?.is_empty() {
        for p in demo_points(now_ms) {
            store.insert_point(&p).await?;
            report.points += 1;
        }
    }
    let first_point = store.list_points().await?.into_iter().find(|p| p.district_code == "340104").map(|p| p.id);
    if store.list_staff().await?.is_empty() {
        for (username, password, name, role, kind, code) in DEMO_STAFF {
            let code = if *code == "POINT" { first_point.clone().unwrap_or_default() } else { code.to_string() };
            let password = password.to_string();
            let hash = tokio::task::spawn_blocking(move || crate::accounts::hash_password(&password)).await??;
            store
                .insert_staff(&Staff {
                    id: new_id(),
                    username: username.to_string(),
                    password_hash: hash,
                    display_name: name.to_string(),
                    role: *role,
                    scope: Scope { kind: *kind, code },
                    active: true,
                    created_at: now_ms,
                })
                .await?;
            report.staff += 1;
        }
    }
    Ok(report)
}

#[derive(Debug, Default)]
pub struct SeedReport {
    pub points: usize,
    pub staff: usize,
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_points_cover_the_urban_districts() {
        let points = super::demo_points(0);
        // 68 township units, of which 49 lie in the four districts with coordinates (the dev zones have none).
        assert_eq!(points.len(), 49);
        for d in ["340102", "340103", "340104", "340111"] {
            assert!(points.iter().any(|p| p.district_code == d), "district {d}");
        }
        assert!(points.iter().all(|p| p.is_demo && p.name.contains("演示")));
        assert!(points.iter().all(|p| (31.6..32.1).contains(&p.lat_gcj02) && (117.0..117.6).contains(&p.lng_gcj02)));
    }
}
