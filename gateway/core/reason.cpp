#include "gateway/core/reason.h"

namespace yktgw {
namespace {

constexpr std::array<ReasonText, kReasonCount> kTexts{{
    {"ok", "通过", "Approved"},
    {"unknown_card", "卡片未登记", "Card is not on the card list"},
    {"card_lost", "卡片已挂失", "Card has been reported lost"},
    {"card_frozen", "卡片已冻结", "Card is frozen"},
    {"card_cancelled", "卡片已注销", "Card has been cancelled"},
    {"invalid_card_no", "卡号格式不正确", "Card number is malformed"},
    {"credential_not_supported", "本网关暂不支持该凭证类型",
     "Credential type is not supported by this gateway"},
    {"malformed_json", "报文不是合法的 JSON", "Payload is not valid JSON"},
    {"missing_field", "报文缺少必填字段", "A required field is missing"},
    {"wrong_type", "字段类型错误", "A field has the wrong type"},
    {"invalid_value", "字段取值不合法", "A field has an invalid value"},
    {"unsupported_version", "不支持的协议版本", "Unsupported protocol version"},
    {"terminal_mismatch", "报文中的终端号与主题不一致",
     "Terminal id in payload differs from the topic"},
    {"payload_too_large", "报文超过大小限制", "Payload exceeds the size limit"},
    {"busy", "网关繁忙，请稍后重试", "Gateway is busy, retry later"},
    {"bad_mac", "终端报文校验码错误", "Terminal MAC does not match the request"},
    {"mac_required", "本场景要求终端报文校验码", "This scenario requires a terminal MAC"},
    {"malformed", "二维码格式错误", "Code is malformed"},
    {"bad_signature", "二维码签名无效", "Code signature is not valid"},
    {"expired", "二维码已过期，请刷新", "Code has expired, refresh it"},
    {"not_yet_valid", "二维码尚未生效，请核对终端时间",
     "Code is not valid yet, check the terminal clock"},
    {"replayed", "二维码已使用，请刷新", "Code was already used, refresh it"},
    {"unknown_issuer", "不认识的发码机构或密钥", "Unknown issuer or key"},
    {"unknown_terminal", "终端未登记到任何场景", "Terminal is not assigned to a scenario"},
    {"scenario_mismatch", "请求场景与终端登记的场景不符",
     "Scenario differs from the terminal's assignment"},
    {"group_not_allowed", "不在允许通行的人员范围内", "Holder is not in an allowed group"},
    {"outside_hours", "不在开放时段内", "Outside the allowed hours"},
    {"daily_cap_reached", "今日次数已达上限", "Daily limit for this card reached"},
    {"offline_limit_exceeded", "金额超过离线限额", "Amount exceeds the offline limit"},
    {"offline_daily_cap_reached", "今日离线消费额度已用完",
     "Offline daily amount for this card used up"},
    {"offline_tap_cap_reached", "离线刷卡次数已达上限", "Offline tap count for this card reached"},
    {"online_required", "需联网核验，当前与平台断开",
     "Online check required and the platform is unreachable"},
    {"no_entry_record", "没有入场记录", "No entry record for this card"},
    {"card_list_stale", "卡清单过旧，暂停离线大额交易",
     "Card list is out of date; large offline payments paused"},
    {"declined_by_platform", "平台拒绝", "Declined by the platform"},
    {"rate_limited", "终端请求过于频繁，请稍后重试", "Terminal sends too fast, retry later"},
}};

}  // namespace

const ReasonText& reason_text(Reason r) {
  auto i = static_cast<std::size_t>(r);
  if (i >= kTexts.size()) i = static_cast<std::size_t>(Reason::invalid_value);
  return kTexts[i];
}

std::optional<Reason> reason_from_code(std::string_view code) {
  for (std::size_t i = 0; i < kTexts.size(); ++i) {
    if (kTexts[i].code == code) return static_cast<Reason>(i);
  }
  return std::nullopt;
}

bool is_input_error(Reason r) {
  switch (r) {
    case Reason::malformed_json:
    case Reason::missing_field:
    case Reason::wrong_type:
    case Reason::invalid_value:
    case Reason::unsupported_version:
    case Reason::terminal_mismatch:
    case Reason::payload_too_large:
      return true;
    default:
      return false;
  }
}

}  // namespace yktgw
