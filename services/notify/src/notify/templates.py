"""Message templates: which events notify drivers, their variables and the built-in texts.

Templates use ``string.Template`` placeholders (``$amount`` or ``${amount}``): no attribute or
index access, so an operator's template can never reach into objects. The variables a
template may use are the fields of its event's data model, checked when the template is saved.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from common.events import DOMAIN_EVENTS, EventData
from notify.domain import Category, Content, InvalidTemplate, Language


@dataclass(frozen=True)
class TemplateSpec:
    event_type: str
    topic: str
    category: Category
    variables: frozenset[str]


# Source events that become a driver notification, and their category.
NOTIFYING: dict[str, tuple[str, Category]] = {
    "driver.registered.v1": ("registry.events", "account"),
    "driver.verified.v1": ("registry.events", "account"),
    "points.awarded.v1": ("points.events", "points"),
    "points.redeemed.v1": ("points.events", "points"),
    "points.reversed.v1": ("points.events", "points"),
    "points.expired.v1": ("points.events", "points"),
    "points.grade_changed.v1": ("points.events", "points"),
    "activity.attended.v1": ("stations.events", "activity"),
    # Issue 17: the stations service decides the nudge (it owns stations' room and the
    # driver's location consent); notify words it. Urgent: it cannot wait for quiet hours.
    "rest.nudged.v1": ("stations.events", "rest"),
    "points.adjusted.v1": ("points.events", "points"),
    # The steps of a driver's own request or complaint that the driver should know about;
    # assignment, warnings and breaches are for staff.
    "case.opened.v1": ("cases.events", "case"),
    "case.deadline_extended.v1": ("cases.events", "case"),
    "case.resolved.v1": ("cases.events", "case"),
    "case.closed.v1": ("cases.events", "case"),
    "case.compensation_granted.v1": ("cases.events", "case"),
    # The mutual-help board (issue 17): the driver who posted a need hears of each step.
    "help.posted.v1": ("cases.events", "case"),
    "help.claimed.v1": ("cases.events", "case"),
    "help.failed.v1": ("cases.events", "case"),
    "help.unclaimed.v1": ("cases.events", "case"),
    # Aid applications (issue 17): the applicant hears it was received and how it ended; the
    # first of the two reviews is the committee's business.
    "aid.applied.v1": ("cases.events", "case"),
    "aid.granted.v1": ("cases.events", "case"),
    "aid.rejected.v1": ("cases.events", "case"),
    # Festival campaigns: where and by when to collect the gift.
    "aid.gift_allotted.v1": ("cases.events", "case"),
    "honour.awarded.v1": ("cases.events", "activity"),
    # Not one driver's: a round's public announcement, broadcast (notify.honours).
    "honour.round_announced.v1": ("cases.events", "activity"),
    # 三亮三比: the driver hears their organisation's evaluation of their commitment.
    "commitment.evaluated.v1": ("cases.events", "activity"),
    # Party-member life (issue 17): a consenting member hears of the branch's online meeting.
    "party.meeting.invited.v1": ("cases.events", "activity"),
}

# Variables notify works out for a type besides its event's fields.
EXTRA_VARIABLES: dict[str, frozenset[str]] = {
    # The honour's name in the message's language, and the winners' display names.
    "honour.round_announced.v1": frozenset({"honour", "names"}),
}


def _model(topic: str, event_type: str) -> type[EventData]:
    return DOMAIN_EVENTS[topic][event_type]


def spec_for(event_type: str) -> TemplateSpec:
    if event_type not in NOTIFYING:
        raise KeyError(event_type)
    topic, category = NOTIFYING[event_type]
    variables = frozenset(_model(topic, event_type).model_fields)
    variables |= EXTRA_VARIABLES.get(event_type, frozenset())
    return TemplateSpec(event_type, topic, category, variables)


def specs() -> list[TemplateSpec]:
    return [spec_for(t) for t in NOTIFYING]


DEFAULTS: dict[str, dict[Language, Content]] = {
    "driver.registered.v1": {
        "zh-CN": Content(
            title="欢迎加入司机之家",
            body="师傅您好,欢迎加入“司机之家”!站点服务、积分和政策消息都会在这里通知您。行车注意安全。",
        ),
        "en": Content(
            title="Welcome to Driver's Home",
            body="Welcome to Driver's Home! Station services, points and policy news will "
            "reach you here. Drive safely.",
        ),
    },
    "driver.verified.v1": {
        "zh-CN": Content(title="资料已核验", body="您的司机资料已于 $verified_at 核验通过。"),
        "en": Content(title="Profile verified", body="Your profile was verified on $verified_at."),
    },
    "points.awarded.v1": {
        "zh-CN": Content(
            title="积分到账 +$amount", body="您获得 $amount 积分,当前积分 $balance_after。"
        ),
        "en": Content(
            title="+$amount points",
            body="You earned $amount points; your balance is now $balance_after.",
        ),
    },
    "points.redeemed.v1": {
        "zh-CN": Content(
            title="积分兑换成功", body="您已使用 $amount 积分兑换礼品,剩余积分 $balance_after。"
        ),
        "en": Content(
            title="Reward redeemed",
            body="You spent $amount points on a reward; $balance_after points remain.",
        ),
    },
    "points.reversed.v1": {
        "zh-CN": Content(
            title="积分调整", body="您的积分已调整 $amount($reason),当前积分 $balance_after。"
        ),
        "en": Content(
            title="Points corrected",
            body="Your points changed by $amount ($reason); your balance is $balance_after.",
        ),
    },
    "points.expired.v1": {
        "zh-CN": Content(
            title="积分到期",
            body="$awarded_through 前获得的 $amount 积分已到期,当前积分 $balance_after。",
        ),
        "en": Content(
            title="Points expired",
            body="$amount points earned up to $awarded_through have expired; "
            "your balance is $balance_after.",
        ),
    },
    "points.grade_changed.v1": {
        "zh-CN": Content(
            title="信用等级变更",
            body="您的信用等级由 $old_grade 变为 $new_grade。",
        ),
        "en": Content(
            title="Credit grade changed",
            body="Your credit grade changed from $old_grade to $new_grade.",
        ),
    },
    "points.adjusted.v1": {
        "zh-CN": Content(
            title="积分调整",
            body="工作人员调整了您的积分 $amount($reason),当前积分 $balance_after。",
        ),
        "en": Content(
            title="Points adjusted",
            body="Staff adjusted your points by $amount ($reason); your balance is $balance_after.",
        ),
    },
    "case.opened.v1": {
        "zh-CN": Content(
            title="诉求已受理",
            body="您的诉求(编号 $case_id)已登记,我们将在 $resolution_due 前办结并答复您。",
        ),
        "en": Content(
            title="Request received",
            body="Your request $case_id is registered; we will answer by $resolution_due.",
        ),
    },
    "case.deadline_extended.v1": {
        "zh-CN": Content(
            title="办理期限延长",
            body="您的诉求 $case_id 办理期限延长至 $new_due(原因:$reason_code)。",
        ),
        "en": Content(
            title="More time needed",
            body="The deadline for your request $case_id moved to $new_due ($reason_code).",
        ),
    },
    "case.resolved.v1": {
        "zh-CN": Content(
            title="诉求已办结", body="您的诉求 $case_id 已办结,稍后会有工作人员回访。"
        ),
        "en": Content(
            title="Request resolved",
            body="Your request $case_id is resolved; someone will call to ask how it went.",
        ),
    },
    "case.closed.v1": {
        "zh-CN": Content(title="诉求已关闭", body="您的诉求 $case_id 已关闭,感谢您的反馈。"),
        "en": Content(title="Request closed", body="Your request $case_id is closed. Thank you."),
    },
    "case.compensation_granted.v1": {
        "zh-CN": Content(
            title="补偿积分",
            body="因诉求 $case_id 的办理,您获得 $amount 积分补偿,将很快到账。",
        ),
        "en": Content(
            title="Compensation points",
            body="For your request $case_id you are granted $amount points; they will "
            "arrive shortly.",
        ),
    },
    "honour.awarded.v1": {
        "zh-CN": Content(
            title="恭喜您获得荣誉",
            body="师傅您好,经评选小组投票,您荣获 $period 荣誉($category)。"
            "感谢您的付出,奖励积分将很快到账。",
        ),
        "en": Content(
            title="Congratulations on your honour",
            body="The panel chose you for $category ($period). Thank you; the bonus points "
            "will arrive shortly.",
        ),
    },
    "party.meeting.invited.v1": {
        "zh-CN": Content(
            title="支部会议通知:$title",
            body="同志您好,支部将于 $starts_at 至 $ends_at 召开线上会议「$title」。"
            "出车在外也可通过网络参会,入会号:$join_ref。参会时长将计入党员学习与积分。",
        ),
        "en": Content(
            title="Branch meeting: $title",
            body='Your party branch meets online from $starts_at to $ends_at ("$title"). '
            "You can join from the road with $join_ref; the time you attend counts towards "
            "your member points.",
        ),
    },
    "honour.round_announced.v1": {
        "zh-CN": Content(
            title="$period $honour评选结果揭晓",
            body="$period「$honour」评选结果揭晓:$names。向他们致敬,向他们学习!",
        ),
        "en": Content(
            title="$honour, $period: the winners",
            body="The $honour of $period: $names. Congratulations to them all!",
        ),
    },
    "commitment.evaluated.v1": {
        "zh-CN": Content(
            title="您的三亮三比承诺已获组织评价",
            body="$period 承诺评价:比服务 $service 分、比技能 $skill 分、比践行 $practice 分"
            "(满分 5 分)。感谢您亮身份、亮标准、亮承诺,详情请在承诺页查看。",
        ),
        "en": Content(
            title="Your commitment was evaluated",
            body="Your organisation evaluated your commitment for $period: service $service, "
            "skill $skill, practice $practice (out of 5). Details are on your commitment page.",
        ),
    },
    "help.posted.v1": {
        "zh-CN": Content(
            title="互助需求已发布",
            body="您的互助需求(编号 $need_id)已发布。有人认领后,您和认领人才能看到彼此的"
            "联系方式;$claim_by 前无人认领,将转交工作人员办理。",
        ),
        "en": Content(
            title="Your need is on the board",
            body="Your need $need_id is on the mutual-help board. Once someone claims it, you "
            "and they see each other's contact; unclaimed by $claim_by, staff take it up.",
        ),
    },
    "help.claimed.v1": {
        "zh-CN": Content(
            title="互助需求已有人认领",
            body="您的互助需求 $need_id 已被认领,请在应用中查看认领人的联系方式。",
        ),
        "en": Content(
            title="Someone will help",
            body="Your need $need_id was claimed; the helper's contact is in the app.",
        ),
    },
    "help.failed.v1": {
        "zh-CN": Content(
            title="互助未能完成",
            body="您的互助需求 $need_id 未能完成。如仍需帮助,请重新发布或联系工作人员。",
        ),
        "en": Content(
            title="The help did not happen",
            body="Your need $need_id was not met. Post it again or call us if you still need help.",
        ),
    },
    "help.unclaimed.v1": {
        "zh-CN": Content(
            title="互助需求转交办理",
            body="您的互助需求 $need_id 暂无人认领,已转为诉求 $case_id 由工作人员办理。",
        ),
        "en": Content(
            title="Staff take up your need",
            body="Nobody claimed your need $need_id in time; staff handle it as request $case_id.",
        ),
    },
    "aid.applied.v1": {
        "zh-CN": Content(
            title="救助申请已受理",
            body="您的救助申请(编号 $application_id)已受理,将由两位工作人员先后审核,结果会通知您。",
        ),
        "en": Content(
            title="Aid application received",
            body="Your aid application $application_id was received. Two staff members review "
            "it in turn; we will tell you the outcome.",
        ),
    },
    "aid.granted.v1": {
        "zh-CN": Content(
            title="救助申请已批准",
            body="您的救助申请 $application_id 已批准,救助金额 $amount_yuan 元,"
            "将由工作人员线下发放。",
        ),
        "en": Content(
            title="Aid granted",
            body="Your aid application $application_id was granted: $amount_yuan yuan, paid "
            "to you by the staff outside the app.",
        ),
    },
    "aid.gift_allotted.v1": {
        "zh-CN": Content(
            title="节日关爱:$gift",
            body="师傅您好,我们为您准备了 $gift,请于 $collect_by 前到服务站 $station_id 领取。",
        ),
        "en": Content(
            title="A gift for you: $gift",
            body="We have $gift for you. Please collect it at station $station_id by $collect_by.",
        ),
    },
    "aid.rejected.v1": {
        "zh-CN": Content(
            title="救助申请未获批准",
            body="很遗憾,您的救助申请 $application_id 未获批准,原因可在应用中查看。"
            "如有疑问请联系工作人员。",
        ),
        "en": Content(
            title="Aid not granted",
            body="Your aid application $application_id was not granted; the reason is in the "
            "app. Call us if you have questions.",
        ),
    },
    "rest.nudged.v1": {
        "zh-CN": Content(
            title="您已连续驾驶 $continuous_minutes 分钟,请休息",
            body="师傅辛苦了!您已连续驾驶 $continuous_minutes 分钟。附近的 $station_name "
            "(约 $distance_km 公里,$travel_minutes 分钟车程)现有空床位或车位,"
            "请安全停车休息。$check_in_by 前在该站签到休息可获得积分。",
        ),
        "en": Content(
            title="$continuous_minutes minutes at the wheel: time to rest",
            body="You have been driving for $continuous_minutes minutes without a break. "
            "$station_name ($distance_km km, about $travel_minutes minutes away) has a free "
            "bed or parking space. Please stop there safely; a rest check-in there before "
            "$check_in_by earns points.",
        ),
    },
    "activity.attended.v1": {
        "zh-CN": Content(
            title="感谢参加活动", body="感谢您参加站点活动($activity_kind),积分将稍后到账。"
        ),
        "en": Content(
            title="Thanks for taking part",
            body="Thank you for joining the station activity ($activity_kind); points will follow.",
        ),
    },
}


def placeholders(text: str) -> list[str]:
    """The variable names a template text uses; raises InvalidTemplate on bad syntax."""
    template = string.Template(text)
    if not template.is_valid():
        raise InvalidTemplate("the template has a malformed placeholder (use $name or ${name})")
    return template.get_identifiers()


def validate(event_type: str, content: Content) -> None:
    """Refuse a template that names a variable its event does not carry."""
    try:
        spec = spec_for(event_type)
    except KeyError as exc:
        raise InvalidTemplate(f"{event_type} does not notify drivers") from exc
    used = placeholders(content.title) + placeholders(content.body)
    unknown = sorted({name for name in used if name not in spec.variables})
    if unknown:
        raise InvalidTemplate(
            f"unknown variables for {event_type}: {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(spec.variables))}",
            unknown,
        )


def _display(value: Any, zone: str) -> str:
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def variables_of(data: EventData, zone: str) -> dict[str, str]:
    return {name: _display(getattr(data, name), zone) for name in type(data).model_fields}


def render(content: Content, variables: dict[str, str]) -> tuple[str, str]:
    """Unknown names stay as written (safe_substitute): a message is never lost to a typo."""
    return (
        string.Template(content.title).safe_substitute(variables),
        string.Template(content.body).safe_substitute(variables),
    )


def sample_variables(event_type: str) -> dict[str, str]:
    """Illustrative values for previews."""
    return {name: f"<{name}>" for name in sorted(spec_for(event_type).variables)}
