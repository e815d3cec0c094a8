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
    {"credential_not_supported", "本网关暂不支持该凭证类型", "Credential type is not supported by this gateway"},
    {"malformed_json", "报文不是合法的 JSON", "Payload is not valid JSON"},
    {"missing_field", "报文缺少必填字段", "A required field is missing"},
    {"wrong_type", "字段类型错误", "A field has the wrong type"},
    {"invalid_value", "字段取值不合法", "A field has an invalid value"},
    {"unsupported_version", "不支持的协议版本", "Unsupported protocol version"},
    {"terminal_mismatch", "报文中的终端号与主题不一致", "Terminal id in payload differs from the topic"},
    {"payload_too_large", "报文超过大小限制", "Payload exceeds the size limit"},
    {"busy", "网关繁忙，请稍后重试", "Gateway is busy, retry later"},
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
