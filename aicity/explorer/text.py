"""Every word the explorer shows, in Chinese and English (one language a page)."""
from __future__ import annotations

LANGS = ("zh", "en")

TEXT = {
    "zh": {
        "title": "aicity 人工智能城市指数", "explore": "趋势", "map": "地图", "rankings": "排名",
        "movers": "升降", "status": "状态", "region": "地区", "simulated": "模拟数据",
        "simulated_note": "本页数据来自内置模拟器，不是百度指数的真实数据。",
        "series": "序列", "regions": "地区", "period": "时段", "granularity": "粒度",
        "scale": "刻度", "go": "查看", "day": "日", "week": "周", "month": "月",
        "index": "指数", "per-capita": "每百万居民", "relative": "相对（0–100）",
        "relative_to": "0–100：100 = {base} 的最大值", "p30": "近30天", "p90": "近90天",
        "p365": "近一年", "all": "全部", "custom": "自定义", "start": "开始", "end": "结束",
        "overlay": "对比", "none": "无", "yoy": "同比（去年同期）", "pop": "环比（上一时段）",
        "download": "下载", "days_with_data": "时段 {start}..{end}：{n}/{days} 天有数据",
        "dimension": "维度", "normalize": "数值", "raw": "原值", "share": "占比",
        "score": "得分", "uncertainty": "排名区间", "province": "省份", "cluster": "城市群",
        "table": "表", "rank": "排名", "demand": "技术需求类型", "industries": "行业需求",
        "split": "南北", "line": "分界线", "colour": "着色", "tier": "梯队", "value": "数值",
        "level": "层级", "city": "城市", "against": "比较", "previous": "上一时段",
        "year": "去年同期", "auto": "自动", "runs": "运行记录", "accounts": "账号",
        "bad_request": "请求有误",
        "not_found": "没有找到", "below_floor": "低于百度门槛（画为空缺）",
        "waiting": "等待再次询问", "anomaly": "异常", "floor_band": "低于门槛",
        "map_note": "省界来自 Natural Earth，并非中国官方审定的边界；南海诸岛未单独成图。",
        "briefing": "简报", "profile": "概况", "national_median": "全国城市中位数",
        "no_rows": "无数据", "limits": "每页最多 {series} 条序列，下载最多 {rows} 行。",
        "cognition": "综合认知", "sort_hint": "点击表头排序", "earlier": "对比时段",
        "holidays": "节假日",
        "sum_note": "维度与分组：其关键词经季节调整后的日值之和（与排名相同）",
        "bucket_note": "周、月为其各天的平均，低于门槛的天计为 0（百度周值的算法）",
        "left_out": "{n} 个地区无数据，未列出", "bands": "梯队：1–10、11–30、31–100、其余；"
        "第一梯队（前10）出自报告，30 与 100 的分界是本项目的",
    },
    "en": {
        "title": "aicity AI city index", "explore": "Explore", "map": "Map",
        "rankings": "Rankings", "movers": "Movers", "status": "Status", "region": "Region",
        "simulated": "SIMULATED", "simulated_note": "The data on this page comes from the "
        "built-in emulator, not from Baidu Index.", "series": "Series", "regions": "Regions",
        "period": "Period", "granularity": "Granularity", "scale": "Scale", "go": "Show",
        "day": "day", "week": "week", "month": "month", "index": "index",
        "per-capita": "per million residents", "relative": "relative (0-100)",
        "relative_to": "0-100: 100 = the maximum of {base}", "p30": "30 days",
        "p90": "90 days", "p365": "a year", "all": "all", "custom": "custom", "start": "start",
        "end": "end", "overlay": "Compare with", "none": "nothing",
        "yoy": "year-on-year (同比)", "pop": "previous period (环比)", "download": "Download",
        "days_with_data": "period {start}..{end}: data on {n} of its {days} days",
        "dimension": "Dimension", "normalize": "Value", "raw": "raw", "share": "share",
        "score": "score", "uncertainty": "rank intervals", "province": "Province",
        "cluster": "Cluster", "table": "Table", "rank": "ranking", "demand": "demand types",
        "industries": "industries", "split": "north/south", "line": "Line",
        "colour": "Colour by", "tier": "tier", "value": "value", "level": "Level",
        "city": "city", "against": "Against", "previous": "previous period",
        "year": "a year earlier", "auto": "automatic", "runs": "Runs", "accounts": "Accounts",
        "bad_request": "Bad request", "not_found": "Not found",
        "below_floor": "below Baidu's floor (drawn as a gap)",
        "waiting": "waiting to be asked again",
        "anomaly": "anomaly", "floor_band": "below the floor",
        "map_note": "Province outlines from Natural Earth, not China's officially approved "
        "borders; the South China Sea islands are not drawn as an inset.",
        "briefing": "Briefing", "profile": "Profile", "national_median": "national city median",
        "no_rows": "no rows", "limits": "At most {series} series a view; downloads at most "
        "{rows} rows.", "cognition": "cognition (combined)", "sort_hint": "click a header to sort",
        "earlier": "earlier period", "holidays": "holidays",
        "sum_note": "dimensions and groups: the daily sum of their keywords' seasonally adjusted "
        "values (as the rankings sum them)",
        "bucket_note": "weeks and months are means of their days, a day below the floor "
        "counting 0 (as Baidu's weekly values)",
        "left_out": "{n} regions without data left out",
        "bands": "tiers: ranks 1-10, 11-30, 31-100, the rest; the first cut (top 10) is the "
        "report's, the cuts at 30 and 100 are ours",
    },
}


def words(lang: str) -> dict[str, str]:
    return TEXT[lang if lang in TEXT else "zh"]
