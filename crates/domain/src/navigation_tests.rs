//! Pins every navigation link format exactly.

use super::*;

const JSON: &str = include_str!("../data/maps/map_deeplink_templates.json");

fn json() -> serde_json::Value {
    serde_json::from_str(JSON).unwrap()
}

fn example_dest() -> Place {
    // _meta.example_destination: gcj02 [117.262072, 31.855868] (lng, lat)
    Place::new("示例受理点", LatLng::new(31.855868, 117.262072))
}

fn me() -> Place {
    Place::new("我的位置", LatLng::new(31.820591, 117.227239))
}

fn cfg(city: bool) -> NavConfig {
    NavConfig {
        app_name: "idcard-ah".into(),
        baidu_company: "example".into(),
        baidu_app: "idcard".into(),
        tencent_referer: "YOUR-TENCENT-KEY".into(),
        city: city.then(|| "合肥".to_string()),
    }
}

#[test]
fn json_example_destination_matches_and_bd09_is_consistent() {
    let j = json();
    let ex = &j["_meta"]["example_destination"];
    assert_eq!(ex["gcj02"][0].as_f64(), Some(117.262072));
    assert_eq!(ex["gcj02"][1].as_f64(), Some(31.855868));
    // The JSON's BD-09 form of the example equals our conversion to 6 decimals (we pass
    // coord_type=gcj02 instead, but the two forms denote the same place).
    let bd = geo::gcj02_to_bd09(example_dest().gcj02);
    assert_eq!(
        format!("{:.6},{:.6}", bd.lng, bd.lat),
        "117.268538,31.862011"
    );
}

#[test]
fn drive_without_origin_equals_json_examples() {
    let j = json();
    let l = nav_links(&example_dest(), None, TravelMode::Drive, &cfg(true));
    assert_eq!(l.amap_web, j["amap_web"]["example"].as_str().unwrap());
    assert_eq!(
        l.amap_android,
        j["amap_android_route"]["example"].as_str().unwrap()
    );
    assert_eq!(l.amap_ios, j["amap_ios_route"]["example"].as_str().unwrap());
    assert_eq!(
        l.baidu_android,
        j["baidu_app_direction"]["example_gcj02"].as_str().unwrap()
    );
    assert_eq!(
        l.tencent_app,
        j["tencent_app_routeplan"]["example"].as_str().unwrap()
    );
    // The template writes coord_type=2 (GCJ-02, the default); the JSON example omits it. We
    // write it explicitly; otherwise identical.
    assert_eq!(
        l.tencent_web.replace("&coord_type=2", ""),
        j["tencent_web_routeplan"]["example"].as_str().unwrap()
    );

    assert_eq!(
        l.amap_web,
        "https://uri.amap.com/navigation?to=117.262072,31.855868,%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&mode=car&policy=0&src=idcard-ah&callnative=1"
    );
    assert_eq!(
        l.amap_android,
        "amapuri://route/plan/?sourceApplication=idcard-ah&dlat=31.855868&dlon=117.262072&dname=%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&dev=0&t=0"
    );
    assert_eq!(
        l.amap_ios,
        "iosamap://path?sourceApplication=idcard-ah&dlat=31.855868&dlon=117.262072&dname=%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&dev=0&t=0"
    );
    assert_eq!(
        l.baidu_android,
        "baidumap://map/direction?destination=name:%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9|latlng:31.855868,117.262072&coord_type=gcj02&mode=driving&region=%E5%90%88%E8%82%A5&src=andr.example.idcard"
    );
    assert_eq!(
        l.baidu_ios,
        "baidumap://map/direction?destination=name:%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9|latlng:31.855868,117.262072&coord_type=gcj02&mode=driving&region=%E5%90%88%E8%82%A5&src=ios.example.idcard"
    );
    assert_eq!(l.baidu_web, None);
    assert_eq!(
        l.tencent_app,
        "qqmap://map/routeplan?type=drive&fromcoord=CurrentLocation&to=%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&tocoord=31.855868,117.262072&referer=YOUR-TENCENT-KEY"
    );
    assert_eq!(
        l.tencent_web,
        "https://apis.map.qq.com/uri/v1/routeplan?type=drive&to=%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&tocoord=31.855868,117.262072&policy=0&coord_type=2&referer=YOUR-TENCENT-KEY"
    );
}

#[test]
fn drive_without_city_matches_baidu_example_shape() {
    // example_bd09ll has no region; without a configured city we omit it too.
    let l = nav_links(&example_dest(), None, TravelMode::Drive, &cfg(false));
    assert_eq!(
        l.baidu_android,
        "baidumap://map/direction?destination=name:%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9|latlng:31.855868,117.262072&coord_type=gcj02&mode=driving&src=andr.example.idcard"
    );
}

#[test]
fn walk_with_origin() {
    let l = nav_links(&example_dest(), Some(&me()), TravelMode::Walk, &cfg(false));
    assert_eq!(
        l.amap_web,
        "https://uri.amap.com/navigation?from=117.227239,31.820591,%E6%88%91%E7%9A%84%E4%BD%8D%E7%BD%AE&to=117.262072,31.855868,%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&mode=walk&src=idcard-ah&callnative=1"
    );
    assert_eq!(
        l.amap_android,
        "amapuri://route/plan/?sourceApplication=idcard-ah&slat=31.820591&slon=117.227239&sname=%E6%88%91%E7%9A%84%E4%BD%8D%E7%BD%AE&dlat=31.855868&dlon=117.262072&dname=%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&dev=0&t=2"
    );
    assert_eq!(
        l.amap_ios,
        "iosamap://path?sourceApplication=idcard-ah&slat=31.820591&slon=117.227239&sname=%E6%88%91%E7%9A%84%E4%BD%8D%E7%BD%AE&dlat=31.855868&dlon=117.262072&dname=%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&dev=0&t=2"
    );
    assert_eq!(
        l.baidu_android,
        "baidumap://map/direction?origin=name:%E6%88%91%E7%9A%84%E4%BD%8D%E7%BD%AE|latlng:31.820591,117.227239&destination=name:%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9|latlng:31.855868,117.262072&coord_type=gcj02&mode=walking&src=andr.example.idcard"
    );
    assert_eq!(
        l.baidu_ios,
        "baidumap://map/direction?origin=name:%E6%88%91%E7%9A%84%E4%BD%8D%E7%BD%AE|latlng:31.820591,117.227239&destination=name:%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9|latlng:31.855868,117.262072&coord_type=gcj02&mode=walking&src=ios.example.idcard"
    );
    assert_eq!(
        l.baidu_web.as_deref(),
        Some(
            "https://api.map.baidu.com/direction?origin=latlng:31.820591,117.227239|name:%E6%88%91%E7%9A%84%E4%BD%8D%E7%BD%AE&destination=latlng:31.855868,117.262072|name:%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&mode=walking&output=html&coord_type=gcj02&src=webapp.example.idcard"
        )
    );
    assert_eq!(
        l.tencent_app,
        "qqmap://map/routeplan?type=walk&from=%E6%88%91%E7%9A%84%E4%BD%8D%E7%BD%AE&fromcoord=31.820591,117.227239&to=%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&tocoord=31.855868,117.262072&referer=YOUR-TENCENT-KEY"
    );
    assert_eq!(
        l.tencent_web,
        "https://apis.map.qq.com/uri/v1/routeplan?type=walk&from=%E6%88%91%E7%9A%84%E4%BD%8D%E7%BD%AE&fromcoord=31.820591,117.227239&to=%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&tocoord=31.855868,117.262072&coord_type=2&referer=YOUR-TENCENT-KEY"
    );
}

#[test]
fn transit_without_origin() {
    let l = nav_links(&example_dest(), None, TravelMode::Transit, &cfg(true));
    assert_eq!(
        l.amap_web,
        "https://uri.amap.com/navigation?to=117.262072,31.855868,%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&mode=bus&policy=0&src=idcard-ah&callnative=1"
    );
    assert_eq!(
        l.amap_android,
        "amapuri://route/plan/?sourceApplication=idcard-ah&dlat=31.855868&dlon=117.262072&dname=%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&dev=0&t=1"
    );
    assert_eq!(
        l.amap_ios,
        "iosamap://path?sourceApplication=idcard-ah&dlat=31.855868&dlon=117.262072&dname=%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&dev=0&t=1"
    );
    assert_eq!(
        l.baidu_android,
        "baidumap://map/direction?destination=name:%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9|latlng:31.855868,117.262072&coord_type=gcj02&mode=transit&region=%E5%90%88%E8%82%A5&src=andr.example.idcard"
    );
    assert_eq!(
        l.baidu_ios,
        "baidumap://map/direction?destination=name:%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9|latlng:31.855868,117.262072&coord_type=gcj02&mode=transit&region=%E5%90%88%E8%82%A5&src=ios.example.idcard"
    );
    assert_eq!(l.baidu_web, None);
    assert_eq!(
        l.tencent_app,
        "qqmap://map/routeplan?type=bus&fromcoord=CurrentLocation&to=%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&tocoord=31.855868,117.262072&referer=YOUR-TENCENT-KEY"
    );
    assert_eq!(
        l.tencent_web,
        "https://apis.map.qq.com/uri/v1/routeplan?type=bus&to=%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&tocoord=31.855868,117.262072&policy=0&coord_type=2&referer=YOUR-TENCENT-KEY"
    );
}

#[test]
fn transit_and_drive_baidu_web_with_origin_and_city() {
    let l = nav_links(
        &example_dest(),
        Some(&me()),
        TravelMode::Transit,
        &cfg(true),
    );
    assert_eq!(
        l.baidu_web.as_deref(),
        Some(
            "https://api.map.baidu.com/direction?origin=latlng:31.820591,117.227239|name:%E6%88%91%E7%9A%84%E4%BD%8D%E7%BD%AE&destination=latlng:31.855868,117.262072|name:%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&mode=transit&region=%E5%90%88%E8%82%A5&output=html&coord_type=gcj02&src=webapp.example.idcard"
        )
    );
    let l = nav_links(&example_dest(), Some(&me()), TravelMode::Drive, &cfg(true));
    // Same shape as the JSON's baidu_web_direction template (region=合肥 encoded).
    assert_eq!(
        l.baidu_web.as_deref(),
        Some(
            "https://api.map.baidu.com/direction?origin=latlng:31.820591,117.227239|name:%E6%88%91%E7%9A%84%E4%BD%8D%E7%BD%AE&destination=latlng:31.855868,117.262072|name:%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&mode=driving&region=%E5%90%88%E8%82%A5&output=html&coord_type=gcj02&src=webapp.example.idcard"
        )
    );
    assert_eq!(
        l.amap_web,
        "https://uri.amap.com/navigation?from=117.227239,31.820591,%E6%88%91%E7%9A%84%E4%BD%8D%E7%BD%AE&to=117.262072,31.855868,%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&mode=car&policy=0&src=idcard-ah&callnative=1"
    );
    assert_eq!(
        l.tencent_web,
        "https://apis.map.qq.com/uri/v1/routeplan?type=drive&from=%E6%88%91%E7%9A%84%E4%BD%8D%E7%BD%AE&fromcoord=31.820591,117.227239&to=%E7%A4%BA%E4%BE%8B%E5%8F%97%E7%90%86%E7%82%B9&tocoord=31.855868,117.262072&policy=0&coord_type=2&referer=YOUR-TENCENT-KEY"
    );
}

#[test]
fn names_with_reserved_characters_are_encoded() {
    let p = Place::new("蜀山区户政服务大厅 (A&B)", LatLng::new(31.85, 117.26));
    let u = amap_web(&p, None, TravelMode::Walk, &cfg(false));
    assert_eq!(
        u,
        "https://uri.amap.com/navigation?to=117.260000,31.850000,%E8%9C%80%E5%B1%B1%E5%8C%BA%E6%88%B7%E6%94%BF%E6%9C%8D%E5%8A%A1%E5%A4%A7%E5%8E%85%20%28A%26B%29&mode=walk&src=idcard-ah&callnative=1"
    );
    // '|', ',' and '&' in a name cannot break Baidu's or anyone's parameter structure.
    let q = Place::new("a|b,c&d=e", LatLng::new(31.85, 117.26));
    let b = baidu_android(&q, None, TravelMode::Drive, &cfg(false));
    assert!(
        b.contains("name:a%7Cb%2Cc%26d%3De|latlng:31.850000,117.260000"),
        "{b}"
    );
    assert_eq!(encode_component("AZaz09-._~ /?#"), "AZaz09-._~%20%2F%3F%23");
}

#[test]
fn modes_and_serde() {
    for m in TravelMode::ALL {
        assert_eq!(TravelMode::from_code(m.code()), Some(m));
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            format!("\"{}\"", m.code())
        );
    }
    let l = nav_links(&example_dest(), None, TravelMode::Walk, &cfg(false));
    let v = serde_json::to_value(&l).unwrap();
    assert_eq!(v["mode"], "walk");
    assert!(v["baidu_web"].is_null());
}

#[test]
fn location_checks() {
    assert_eq!(
        check_location(LatLng::new(31.82, 117.22)),
        Ok(LatLng::new(31.82, 117.22))
    );
    assert_eq!(
        check_location(LatLng::new(f64::NAN, 117.0))
            .unwrap_err()
            .code(),
        "location_malformed"
    );
    assert_eq!(
        check_location(LatLng::new(95.0, 117.0)).unwrap_err().code(),
        "location_malformed"
    );
    assert_eq!(
        check_location(LatLng::new(48.85, 2.35)).unwrap_err().code(),
        "location_outside_china"
    );
}
