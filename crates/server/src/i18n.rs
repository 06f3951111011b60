//! Language choice (Simplified Chinese by default, English on request) and the UI text catalogue.
//!
//! Page text is looked up by key in [`CATALOGUE`]; a test checks that every key a template uses exists.

use axum::http::HeaderMap;
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

pub const LANG_COOKIE: &str = "sf_lang";

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("en") {
            Some(Lang::En)
        } else if s.starts_with("zh") {
            Some(Lang::Zh)
        } else {
            None
        }
    }

    /// The `sf_lang` cookie wins (the person chose it), then `Accept-Language` in order of appearance.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        if let Some(v) = cookie_value(headers, LANG_COOKIE).and_then(|v| Lang::parse(&v)) {
            return v;
        }
        headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').find_map(|part| Lang::parse(part.split(';').next().unwrap_or(""))))
            .unwrap_or_default()
    }

    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// UI text for `key`. Unknown keys show the key itself (and fail the catalogue test).
    pub fn t(self, key: &str) -> &'static str {
        match CATALOGUE.binary_search_by(|(k, _, _)| k.cmp(&key)) {
            Ok(i) => self.pick(CATALOGUE[i].1, CATALOGUE[i].2),
            Err(_) => "⟦missing text⟧",
        }
    }
}

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// (key, zh-CN, en), sorted by key (checked by a test) for binary search.
pub static CATALOGUE: &[(&str, &str, &str)] = &[
    ("admin.add_exception", "新增特殊日期", "Add a special day"),
    ("admin.address", "地址", "Address"),
    ("admin.back_points", "← 受理点管理", "← Acceptance points"),
    ("admin.back_workbench", "← 工作台", "← Workbench"),
    ("admin.capacity", "每时段可约人数", "Seats per slot"),
    ("admin.capacity_hint", "减少名额时，已预约的群众保留其预约。", "Lowering it never removes a seat someone has booked."),
    ("admin.day", "日期", "Date"),
    ("admin.day_hint", "可设置的日期范围：", "Dates you can set:"),
    ("admin.district", "所属县（市、区）", "District"),
    ("admin.district_hint", "6 位行政区划代码，如 340104（蜀山区）。创建后不可更改。", "6-digit division code, e.g. 340104 (Shushan). It cannot be changed later."),
    ("admin.done_created", "受理点已创建，可预约时段已生成。", "The point has been created and its slots generated."),
    ("admin.done_exception", "特殊日期已保存。因停办取消的预约：{n} 个（已短信通知）。", "The special day has been saved. Appointments cancelled by a closure: {n} (holders told by SMS)."),
    ("admin.done_exception_removed", "特殊日期已删除，恢复正常办公时间。", "The special day has been removed; regular hours apply."),
    ("admin.done_saved", "设置已保存，未来时段已按新设置调整（已有预约保留）。", "Saved. Future slots follow the new settings (existing bookings are kept)."),
    ("admin.exceptions", "特殊日期（停办、加号、调整时间）", "Special days (closures, extra seats, different hours)"),
    ("admin.hours", "办公时间", "Opening hours"),
    ("admin.hours_hint", "格式：mon-fri 09:00-12:00,13:30-17:00; sat 09:00-12:00（法定节假日自动停办，调休上班日自动开放）", "Format: mon-fri 09:00-12:00,13:30-17:00; sat 09:00-12:00 (closed on public holidays, open on make-up working days automatically)"),
    ("admin.kind", "类型", "Kind"),
    ("admin.kind_closed", "全天停办（填写原因；当天预约将取消并短信通知）", "Closed all day (give the reason; that day's bookings are cancelled and holders told by SMS)"),
    ("admin.kind_extra", "增加名额（填写每个时段增加的人数）", "Extra seats (enter seats added to each slot)"),
    ("admin.kind_hours", "调整当天办公时间（如 09:00-12:00）", "Different hours that day (e.g. 09:00-12:00)"),
    ("admin.lat", "纬度", "Latitude"),
    ("admin.lng", "经度", "Longitude"),
    ("admin.location", "位置（GCJ-02 坐标）", "Location (GCJ-02)"),
    ("admin.location_hint", "高德地图或腾讯地图上读取的坐标即为 GCJ-02。", "Coordinates read from Amap or Tencent Maps are GCJ-02."),
    ("admin.name", "名称", "Name"),
    ("admin.new_point", "新建受理点", "New acceptance point"),
    ("admin.no_exceptions", "近期没有特殊日期。", "No special days coming up."),
    ("admin.no_points", "您的管辖范围内还没有受理点。", "There are no acceptance points in your scope yet."),
    ("admin.phone", "咨询电话", "Phone"),
    ("admin.points", "受理点管理", "Acceptance points"),
    ("admin.points_title", "受理点管理", "Acceptance points"),
    ("admin.remove", "删除", "Remove"),
    ("admin.save", "保存设置", "Save settings"),
    ("admin.save_exception", "保存特殊日期", "Save the special day"),
    ("admin.services", "可办理业务", "Services offered"),
    ("admin.settings", "基本设置", "Settings"),
    ("admin.slot_minutes", "每个时段分钟数（10–120）", "Slot length in minutes (10–120)"),
    ("admin.value", "原因 / 人数 / 时间", "Reason / seats / hours"),
    ("admin.value_hint", "停办填写原因；加号填写人数；调整时间填写如 09:00-12:00,14:00-16:00。", "For a closure the reason; for extra seats a number; for hours e.g. 09:00-12:00,14:00-16:00."),
    ("admin.windows", "窗口数", "Windows"),
    ("api.docs_intro", "以下接口供其他政务系统调用。所有接口返回 JSON，错误格式为 {\"error\":{\"code\",\"message\"}}。", "These endpoints serve other government systems. All return JSON; errors look like {\"error\":{\"code\",\"message\"}}."),
    ("api.docs_title", "开放接口文档", "API documentation"),
    ("appt.back", "← 我的预约", "← My appointments"),
    ("appt.book_new", "预约新的时段", "Book another slot"),
    ("appt.cancel", "取消预约", "Cancel the appointment"),
    ("appt.cancel_hint", "开始前 2 小时内不能取消或改约；每月取消 3 次后当月暂停预约。", "No cancelling or changing within 2 hours of the start; after 3 cancellations in a month, booking is suspended for that month."),
    ("appt.cancel_submit", "确认取消预约", "Cancel this appointment"),
    ("appt.code", "预约码", "Appointment code"),
    ("appt.cutoff_passed", "距预约时间不足 2 小时，已不能取消或改约。", "It is less than 2 hours to the start: the appointment can no longer be cancelled or changed."),
    ("appt.done_booked", "预约成功！预约码已通过短信发送到您的手机。", "Booked! The code has been sent to your phone by SMS."),
    ("appt.done_cancelled", "预约已取消。", "The appointment has been cancelled."),
    ("appt.done_rescheduled", "已改约到新的时段。", "The appointment has been moved to the new slot."),
    ("appt.mine_title", "我的预约", "My appointments"),
    ("appt.new_slot", "新的时段", "New slot"),
    ("appt.no_other_slots", "该受理点暂无其他可预约时段。", "This point has no other slots to move to."),
    ("appt.none", "您还没有预约。", "You have no appointments yet."),
    ("appt.point", "受理点", "Acceptance point"),
    ("appt.qr_hint", "到窗口出示二维码或报预约码，签到取号。", "Show the QR code or say the code at the counter to check in and get a queue number."),
    ("appt.qr_label", "预约码二维码", "QR code of appointment code"),
    ("appt.reschedule", "改约", "Reschedule"),
    ("appt.reschedule_submit", "改到这个时段", "Move to this slot"),
    ("appt.status", "状态", "Status"),
    ("appt.title", "预约详情", "Appointment"),
    ("appt.when", "时间", "Time"),
    ("common.back_home", "返回首页", "Back to home"),
    ("common.continue", "继续", "Continue"),
    ("common.error_summary", "请修改以下问题", "There is a problem"),
    ("common.skip", "跳到主要内容", "Skip to main content"),
    ("counter.call_next", "叫下一位", "Call next"),
    ("counter.call_title", "叫号", "Call"),
    ("counter.called_title", "正在办理", "Being served"),
    ("counter.check_in", "签到取号", "Check in"),
    ("counter.check_in_title", "预约签到", "Appointment check-in"),
    ("counter.choose_point", "选择受理点", "Choose the acceptance point"),
    ("counter.code", "预约码", "Appointment code"),
    ("counter.code_hint", "扫描群众出示的二维码，或输入 8 位预约码。", "Scan the citizen's QR code or type the 8-character code."),
    ("counter.display", "公共叫号屏", "Public queue display"),
    ("counter.done_called", "已叫号 {n}。", "Called {n}."),
    ("counter.done_check_in", "签到成功，排队号 {n}。", "Checked in: queue number {n}."),
    ("counter.done_finished", "已办结。", "Finished."),
    ("counter.done_status", "受理点状态已更新。", "The point's status has been updated."),
    ("counter.done_walk_in", "已发现场号 {n}。", "Walk-in number {n} issued."),
    ("counter.nobody", "当前没有人等候。", "Nobody is waiting."),
    ("counter.none_called", "暂无正在办理的号。", "No numbers being served."),
    ("counter.none_today", "今天暂无预约。", "No appointments today."),
    ("counter.none_waiting", "暂无等候。", "Nobody waiting."),
    ("counter.reason", "原因", "Reason"),
    ("counter.reason_hint", "暂停或停办时必填，群众可见（最多 100 字）。", "Required when pausing or closing; shown to citizens (up to 100 characters)."),
    ("counter.served", "办结", "Served"),
    ("counter.skipped", "过号", "Skip"),
    ("counter.status", "受理点状态", "Point status"),
    ("counter.status_submit", "更新状态", "Update status"),
    ("counter.status_title", "受理点状态", "Point status"),
    ("counter.time", "时段", "Slot"),
    ("counter.title", "窗口工作台", "Counter"),
    ("counter.today_title", "今日预约", "Today's appointments"),
    ("counter.waiting", "等候", "Waiting"),
    ("counter.waiting_title", "等候中的号", "Numbers waiting"),
    ("counter.walk_in", "现场取号（无预约）", "Walk-in ticket (no appointment)"),
    ("counter.window", "窗口", "Window"),
    ("counter_pay.alipay_qr", "支付宝扫码", "Alipay QR"),
    ("counter_pay.back", "← 窗口受理台", "← Counter console"),
    ("counter_pay.cash", "现金", "Cash"),
    ("counter_pay.create", "生成收费单", "Create the payment"),
    ("counter_pay.done_cash", "现金已收讫，应找零 ¥{change}。", "Cash taken; give ¥{change} change."),
    ("counter_pay.how", "收费方式", "How the applicant pays"),
    ("counter_pay.item", "收费项目", "Item"),
    ("counter_pay.next", "下一笔收费", "Next payment"),
    ("counter_pay.qr_hint", "请群众用手机扫码支付，完成后点击“刷新状态”。", "Ask the applicant to scan and pay, then refresh the status."),
    ("counter_pay.qr_label", "收费二维码", "Payment QR code"),
    ("counter_pay.received", "收取现金（元）", "Cash received (yuan)"),
    ("counter_pay.received_hint", "仅现金需要填写，如 50 或 50.00。", "For cash only, e.g. 50 or 50.00."),
    ("counter_pay.refresh", "刷新状态", "Refresh the status"),
    ("counter_pay.take", "确认收费", "Take the payment"),
    ("counter_pay.title", "窗口收费", "Counter payment"),
    ("counter_pay.wechat_qr", "微信扫码", "WeChat QR"),
    ("display.calling", "正在叫号", "Now calling"),
    ("display.none", "暂无叫号", "No numbers called yet"),
    ("display.refresh", "每 10 秒自动刷新", "Refreshes every 10 seconds"),
    ("display.title", "叫号屏", "Queue display"),
    ("display.to_window", "请到窗口", "Please go to window"),
    ("display.updated", "更新于", "Updated"),
    ("display.waiting", "等候人数", "Waiting"),
    ("elder.off", "标准模式", "Standard mode"),
    ("elder.on", "长辈模式", "Elder-friendly mode"),
    ("error.title", "出错了", "Something went wrong"),
    ("footer.demo", "演示实例：数据均为虚构，短信不会真正发出。", "Demo instance: all data is fictitious and no SMS is really sent."),
    ("footer.org", "安徽省公安厅 居民身份证网上服务平台（示范）", "Resident ID card online services (model platform)"),
    ("footer.privacy", "个人信息保护", "Personal data protection"),
    ("home.lead", "手机上办身份证：预约不排队、缴费一键付、照片智能检测、进度实时推送、到期换领全程网办。", "Your ID card from your phone: no queue, one-tap payment, instant photo checks, live progress, and fully online renewal."),
    ("home.s1", "智能预约", "Smart appointments"),
    ("home.s1d", "查看附近户政窗口的实时排队情况，预约空闲时段，导航前往。", "See live load at nearby counters, book a quiet slot, navigate there."),
    ("home.s2", "智能缴费", "Fee payment"),
    ("home.s2d", "支付宝、微信、云闪付在线缴费，窗口扫码，无需绑定银行卡。", "Pay by Alipay, WeChat Pay or UnionPay online or by QR at the counter, no bank binding."),
    ("home.s3", "智能采像", "Portrait capture"),
    ("home.s3d", "手机拍照即时检测是否符合证件照标准，并告诉您如何改正。", "Check a phone photo against the ID photo standard at once and learn how to fix it."),
    ("home.s4", "进度反馈", "Progress updates"),
    ("home.s4d", "每个环节的进度通过应用和短信推送，证件到期前提醒。", "Every stage pushed to the app and by SMS; reminders before your card expires."),
    ("home.s5", "网上换领", "Online renewal"),
    ("home.s5d", "符合条件可全程网上申请、缴费，证件由邮政 EMS 送达。", "If eligible, apply and pay online; the card arrives by EMS."),
    ("home.s6", "制证进度", "Production tracking"),
    ("home.s6d", "每份申请按 15 个工作日目标跟踪，环节耗时一目了然。", "Every application tracked against a 15-working-day target."),
    ("home.soon", "即将开放", "Coming soon"),
    ("home.title", "居民身份证 网上办", "Resident ID card online"),
    ("me.appointments", "我的预约", "My appointments"),
    ("me.change_phone", "更换绑定手机号", "Change phone number"),
    ("me.id_number", "身份证号", "ID number"),
    ("me.level", "实名认证", "Real-name verification"),
    ("me.level_intermediate", "中级实名认证（已核验人脸）", "Intermediate (face verified)"),
    ("me.level_none", "未认证", "Not verified"),
    ("me.level_primary", "初级实名认证", "Primary (name and ID number)"),
    ("me.name", "姓名", "Name"),
    ("me.phone", "手机号", "Phone"),
    ("me.sign_out", "退出登录", "Sign out"),
    ("me.title", "我的", "My account"),
    ("me.verify_face", "进行人脸核验（中级认证）", "Verify your face (intermediate)"),
    ("me.verify_primary", "进行实名认证", "Verify your identity"),
    ("nav.api", "开放接口", "API"),
    ("nav.home", "首页", "Home"),
    ("nav.me", "我的", "Me"),
    ("nav.sign_in", "登录", "Sign in"),
    ("nav.staff", "工作人员入口", "Staff"),
    ("outbox.empty", "暂无短信。", "No messages yet."),
    ("outbox.title", "短信发件箱（沙箱）", "SMS outbox (sandbox)"),
    ("pay.amount", "金额", "Amount"),
    ("pay.channel", "支付方式", "Paid with"),
    ("pay.check_title", "缴费凭证核验", "Receipt check"),
    ("pay.check_valid", "经核验，该缴费凭证真实有效。", "This receipt is genuine: it matches our records."),
    ("pay.choose", "选择支付方式", "Choose how to pay"),
    ("pay.choose_hint", "无需绑定银行卡；支付结果以本平台记录为准。", "No bank card binding needed; our own record of the payment is what counts."),
    ("pay.item", "收费项目", "Item"),
    ("pay.order_no", "订单号", "Order number"),
    ("pay.paid_at", "支付时间", "Paid at"),
    ("pay.payer", "缴费人", "Payer"),
    ("pay.pdf", "下载 PDF 凭证", "Download the PDF receipt"),
    ("pay.receipt", "电子缴费凭证", "Electronic receipt"),
    ("pay.receipt_hint", "扫描二维码可在线核验本凭证。", "Scan the QR code to check this receipt online."),
    ("pay.receipt_open", "打开核验页面", "Open the check page"),
    ("pay.receipt_qr", "缴费凭证核验二维码", "QR code to check the receipt"),
    ("pay.refunded", "已退款", "Refunded"),
    ("pay.status", "状态", "Status"),
    ("pay.submit", "确认支付", "Pay"),
    ("pay.title", "缴费", "Payment"),
    ("phone.code_hint", "已向新号码发送验证码。", "We sent a code to the new number."),
    ("phone.done", "手机号已更换，原号码会收到变更通知。", "Your phone number has been changed; the old number was notified."),
    ("phone.id_hint", "为确认是您本人，请再次输入您的身份证号。", "To confirm it is you, enter your ID number again."),
    ("phone.new", "新手机号", "New phone number"),
    ("phone.title", "更换绑定手机号", "Change phone number"),
    ("point.address", "地址", "Address"),
    ("point.back", "← 返回受理点列表", "← Back to the list"),
    ("point.book", "预约", "Book"),
    ("point.book_this", "预约这个时段", "Book this slot"),
    ("point.choose_location", "选择位置", "Choose a location"),
    ("point.display_link", "查看本受理点叫号屏", "This point's queue display"),
    ("point.free_slots", "可约时段", "Open slots"),
    ("point.full", "已约满", "Full"),
    ("point.hours", "办公时间", "Opening hours"),
    ("point.mode_hint", "选择出行方式，下方链接会随之改变。", "Choose how you travel; the links below follow."),
    ("point.nav_hint", "未安装地图应用时请使用网页版；在微信中打开时请使用网页版。", "Without the map app, or inside WeChat, use the web version."),
    ("point.nav_title", "到这里去", "Get there"),
    ("point.no_slots", "该受理点近期没有可预约的时段。", "This point has no slots in the coming days."),
    ("point.open_app", "打开 App", "Open app"),
    ("point.open_web", "网页版", "Web"),
    ("point.phone", "电话", "Phone"),
    ("point.remaining", "余", "Left"),
    ("point.service", "办理业务", "Service"),
    ("point.services", "可办业务", "Services"),
    ("point.sign_in_first", "登录并完成实名认证后即可预约。", "Sign in and verify your identity to book."),
    ("point.slots_hint", "先选择业务，再点选时段预约。", "Choose the service, then tap a slot to book it."),
    ("point.slots_title", "选择时段预约", "Book a slot"),
    ("point.suggest_lead", "该受理点当前较忙，以下附近受理点或时段还有空位（按距离和预计等待综合排序）。", "This point is busy now; these nearby points or times have room (ranked by distance and expected wait)."),
    ("point.suggest_none", "附近暂时没有更空闲的时段。", "No quieter slots nearby right now."),
    ("point.suggest_title", "错峰推荐", "Quieter alternatives"),
    ("point.unavailable", "不可约", "Unavailable"),
    ("point.verify_first", "预约前请先完成实名认证。", "Complete real-name verification before booking."),
    ("point.web_needs_origin", "百度网页版需要您的位置。", "Baidu's web version needs your location."),
    ("point.windows", "办理窗口", "Windows"),
    ("points.booked_today", "今日预约", "Booked today"),
    ("points.distance", "距离", "Distance"),
    ("points.district", "按区县查找", "Search by district"),
    ("points.district_any", "全部受理点", "All points"),
    ("points.district_hint", "不便定位时，请选择您所在的区县，列表按距离排序。", "If you prefer not to share your location, choose your district; the list is sorted by distance."),
    ("points.est_wait", "预计等待", "Estimated wait"),
    ("points.geo_denied", "未能获取位置，请改为选择区县。", "Could not get your location; please choose a district instead."),
    ("points.geo_locating", "正在获取位置…", "Getting your location…"),
    ("points.geo_unsupported", "此浏览器不支持定位，请选择区县。", "This browser cannot share a location; please choose a district."),
    ("points.hefei_urban", "合肥市区", "Hefei urban districts"),
    ("points.lead", "查看附近受理点的实时预约和排队情况，选择空闲的受理点预约，到点办理不排队。", "See live bookings and queues at nearby acceptance points, book a quiet one, and skip the queue."),
    ("points.list_title", "受理点列表", "Acceptance points"),
    ("points.live_pause", "暂停实时更新", "Pause live updates"),
    ("points.live_resume", "恢复实时更新", "Resume live updates"),
    ("points.live_updated", "实时数据已更新", "Live figures updated"),
    ("points.map_label", "受理点热力图：共 {n} 个受理点，其中 {busy} 个繁忙或已满。详情见下方列表。", "Heat map of acceptance points: {n} points, {busy} of them busy or full. Details in the list below."),
    ("points.map_note", "底图为区县驻地示意，不代表实际道路；颜色表示今日忙闲程度，详情见列表。", "The base map shows district seats only, not roads; colours show today's load; details are in the list."),
    ("points.map_note_tiles", "颜色表示今日忙闲程度，详情见列表。", "Colours show today's load; details are in the list."),
    ("points.map_title", "忙闲地图", "Load map"),
    ("points.people", "人", "people"),
    ("points.show", "查看", "Show"),
    ("points.sorted_by_location", "已按您的位置由近到远排序。", "Sorted by distance from your location."),
    ("points.title", "智能预约", "Smart appointments"),
    ("points.use_location", "使用我的位置", "Use my location"),
    ("points.wait_about", "约 {n} 分钟", "about {n} min"),
    ("points.wait_none", "暂无窗口办理", "No window open"),
    ("points.wait_zero", "无需等候", "No wait"),
    ("points.waiting_now", "现场等候", "Waiting now"),
    ("points.you", "您的位置", "You"),
    ("sign_in.code", "短信验证码", "SMS code"),
    ("sign_in.code_hint", "6 位数字，5 分钟内有效。", "6 digits, valid for 5 minutes."),
    ("sign_in.code_sent", "验证码已发送至", "We sent a code to"),
    ("sign_in.lead", "使用手机号和短信验证码登录，首次登录将自动注册。", "Sign in with your mobile number and an SMS code; first sign-in creates your account."),
    ("sign_in.phone", "手机号码", "Mobile number"),
    ("sign_in.phone_hint", "中国大陆 11 位手机号", "11-digit mainland China mobile number"),
    ("sign_in.resend", "重新获取验证码", "Send a new code"),
    ("sign_in.send_code", "获取验证码", "Send code"),
    ("sign_in.submit", "登录", "Sign in"),
    ("sign_in.title", "登录", "Sign in"),
    ("staff.counter", "窗口受理台", "Counter console"),
    ("staff.home_title", "工作台", "Workbench"),
    ("staff.password", "密码", "Password"),
    ("staff.role", "角色", "Role"),
    ("staff.scope", "管辖范围", "Scope"),
    ("staff.sign_in_title", "工作人员登录", "Staff sign-in"),
    ("staff.username", "用户名", "Username"),
    ("verify.face_file", "人脸照片", "Face photo"),
    ("verify.face_hint", "请正对镜头、摘下帽子和眼镜，在光线充足处拍摄本人正脸。", "Face the camera without hat or glasses, in good light."),
    ("verify.face_lead", "中级实名认证需要将您的现场人脸与公安人口信息中的照片比对。", "Intermediate verification compares a live photo of you with the portrait on record."),
    ("verify.face_title", "人脸核验", "Face verification"),
    ("verify.id_hint", "18 位居民身份证号码，末位可能是 X", "18-character resident ID number; the last may be X"),
    ("verify.lead", "初级实名认证：核对您的姓名和身份证号与公安人口信息一致。", "Primary verification: we check your name and ID number against the population registry."),
    ("verify.name_hint", "与身份证上的姓名一致", "As printed on your ID card"),
    ("verify.submit", "提交认证", "Verify"),
    ("verify.title", "实名认证", "Real-name verification"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_sorted_and_unique() {
        for w in CATALOGUE.windows(2) {
            assert!(w[0].0 < w[1].0, "catalogue out of order at {} / {}", w[0].0, w[1].0);
        }
    }

    #[test]
    fn every_template_key_exists() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for part in text.split("t(\"").skip(1) {
                let key = part.split('"').next().unwrap();
                assert!(CATALOGUE.iter().any(|(k, _, _)| *k == key), "missing UI text key {key:?}");
                checked += 1;
            }
        }
        assert!(checked > 20, "templates should use the catalogue");
    }

    #[test]
    fn language_from_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::Zh);
        h.insert(ACCEPT_LANGUAGE, "en-GB,en;q=0.9".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert(COOKIE, "a=b; sf_lang=zh-CN".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::Zh);
    }
}
