"""The built-in texts of each notifying event (``notify.templates.NOTIFYING``), per language:
what a driver reads until an operator saves a template of their own."""

from __future__ import annotations

from notify.domain import Content, Language

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
