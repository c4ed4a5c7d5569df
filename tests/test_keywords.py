"""The keyword taxonomy: file validation, classification of real queries, segmentation, CLI."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from aicity.keywords import Classifier, TaxonomyError, default_taxonomy, load_taxonomy

MINIMUM_SIZES = {("basic", ""): 8, ("professional", ""): 15, ("technical", ""): 15,
                 ("application", "speech"): 6, ("application", "vision"): 6,
                 ("application", "deep_learning"): 6, ("industry", "driving"): 5,
                 ("industry", "security"): 5, ("industry", "healthcare"): 5,
                 ("industry", "retail"): 5, ("industry", "finance"): 5,
                 ("industry", "manufacturing"): 5}


@pytest.fixture(scope="module")
def clf():
    return Classifier()


def test_packaged_taxonomy_meets_the_minimum_sizes():
    tax = default_taxonomy()
    for (category, group), minimum in MINIMUM_SIZES.items():
        assert len(tax.select(category, group)) >= minimum, (category, group)
    assert {t.term for t in tax.select("basic")} >= {"人工智能", "AI"}
    assert {t.term for t in tax.select("professional")} >= {"CNN", "DNN", "深度学习", "神经网络"}


GOOD_HEAD = '[basic]\nterms = ["人工智能", "AI"]\n'


@pytest.mark.parametrize("text,line,reason", [
    (GOOD_HEAD + '[magic]\nterms = ["x"]\n', 3, "unknown dimension 'magic'"),
    (GOOD_HEAD + '[industry.space]\nterms = ["航天"]\n', 3, "unknown group 'space' in industry"),
    (GOOD_HEAD + '[industry.retail]\nterms = []\n', 3, "group industry.retail is empty"),
    (GOOD_HEAD + '[application.speech]\nterms = ["语音识别"]\n'
     '[application.vision]\nterms = ["人脸识别",\n "语音识别"]\n', 7,
     "term '语音识别' is already in application.speech (line 4)"),
    (GOOD_HEAD + '[professional]\nterms = [{ term = "CNN", aliases = ["ai"] }, "卷积网络"]\n'
     '[technical]\nterms = ["TPU"]\n', None, None),
    ('[basic]\nterms = ["人工智能"\n', 2, "malformed TOML"),
    ('[basic]\nterms = [{ term = "AI", colour = "red" }]\n', 2, "unexpected key 'colour'"),
    (GOOD_HEAD + '[industry]\nterms = ["智能制造"]\n', 3, "industry terms must sit in a group"),
])
def test_validator_names_file_and_line(tmp_path, text, line, reason):
    path = tmp_path / "tax.toml"
    path.write_text(text, encoding="utf-8")
    if reason is None:  # the same alias in different dimensions is fine
        assert len(load_taxonomy(path).terms) == 5
        return
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    assert str(err.value).startswith(f"{path}:{line}: "), str(err.value)
    assert reason in str(err.value)


# (query, expected (category, group) pairs): what an analyst would file each query under.
QUERIES = [
    ("人工智能是什么", {("basic", "")}),
    ("人工智能安防解决方案", {("basic", ""), ("industry", "security")}),
    ("基于深度学习的人脸识别算法", {("professional", ""), ("application", "vision")}),
    ("基於深度學習的人臉識別演算法", {("professional", ""), ("application", "vision")}),
    ("ＡＩ换脸软件", {("basic", "")}),
    ("ai绘画", {("basic", ""), ("application", "generative")}),
    ("Ai 写作", {("basic", ""), ("application", "generative")}),
    ("ChatGPT怎么用", {("basic", ""), ("application", "generative")}),
    ("deepseek本地部署", {("basic", ""), ("application", "generative")}),
    ("文心一言和通义千问哪个好", {("application", "generative")}),
    ("大语言模型原理", {("professional", "")}),
    ("具身智能机器人公司", {("technical", ""), ("basic", "")}),
    ("阿尔法狗 柯洁", {("basic", "")}),
    ("AlphaGo Zero论文", {("basic", "")}),
    ("机器人编程培训", {("basic", "")}),
    ("cnn卷积神经网络原理", {("professional", "")}),
    ("DNN和CNN的区别", {("professional", "")}),
    ("lstm时间序列预测", {("professional", "")}),
    ("强化学习入门", {("professional", "")}),
    ("机器学习 周志华", {("professional", "")}),
    ("生成对抗网络GAN", {("professional", "")}),
    ("支持向量机SVM原理", {("professional", "")}),
    ("tensorflow安装教程", {("technical", "")}),
    ("TensorFlow和PyTorch哪个好", {("technical", "")}),
    ("keras中文文档", {("technical", "")}),
    ("知识图谱构建", {("technical", "")}),
    ("寒武纪芯片", {("technical", "")}),
    ("百度大脑开放平台", {("technical", "")}),
    ("语音识别软件哪个好", {("application", "speech")}),
    ("智能音箱推荐", {("application", "speech")}),
    ("小度智能音箱 语音助手", {("application", "speech")}),
    ("机器翻译原理", {("application", "speech")}),
    ("自然语言处理NLP", {("application", "speech")}),
    ("智能客服系统", {("application", "speech")}),
    ("图像识别在线", {("application", "vision")}),
    ("车牌识别系统价格", {("application", "vision")}),
    ("OCR文字识别", {("application", "vision")}),
    ("深度学习服务器配置", {("professional", ""), ("application", "deep_learning")}),
    ("深度学习框架对比", {("professional", ""), ("application", "deep_learning")}),
    ("AI开放平台", {("application", "deep_learning"), ("basic", "")}),
    ("无人驾驶汽车", {("industry", "driving")}),
    ("自动驾驶 百度 Apollo", {("industry", "driving")}),
    ("人脸识别门禁多少钱", {("application", "vision"), ("industry", "security")}),
    ("天网工程是什么", {("industry", "security")}),
    ("智能医疗 公司", {("industry", "healthcare")}),
    ("医学影像人工智能", {("industry", "healthcare"), ("basic", "")}),
    ("手术机器人达芬奇", {("industry", "healthcare"), ("basic", "")}),
    ("无人超市 杭州", {("industry", "retail")}),
    ("新零售是什么意思", {("industry", "retail")}),
    ("刷脸支付", {("industry", "retail")}),
    ("智能投顾平台", {("industry", "finance")}),
    ("金融科技公司排名", {("industry", "finance")}),
    ("量化交易策略", {("industry", "finance")}),
    ("智能制造 中国制造2025", {("industry", "manufacturing")}),
    ("工业机器人品牌", {("industry", "manufacturing"), ("basic", "")}),
    ("工业4.0", {("industry", "manufacturing")}),
    ("台湾旅游攻略", set()),
    ("taiwan travel", set()),
    ("machine learning 教程", {("professional", "")}),
    ("今天天气怎么样", set()),
]


@pytest.mark.parametrize("query,expected", QUERIES)
def test_realistic_queries_are_classified(clf, query, expected):
    got = {(m.category, m.group) for m in clf.classify(query)}
    assert got == expected


def test_there_are_at_least_forty_classified_queries():
    assert sum(1 for _, groups in QUERIES if groups) >= 40


def test_segmentation_keeps_every_chinese_taxonomy_term_whole(clf):
    for form in clf._cjk_forms:
        assert clf.segment(form) == [form]
    for term in ("深度学习", "计算机视觉", "人脸识别", "自动驾驶"):
        assert term in clf.segment(f"我想了解{term}的应用")


def test_classification_is_robust_to_case_width_space_and_script(clf):
    base = clf.classify("人脸识别")
    for variant in ("人臉識別", "人 脸 识 别", "人脸识别\u3000"):
        assert clf.classify(variant) == base
    assert clf.classify("TENSORFLOW") == clf.classify("tensorflow") \
        == clf.classify("ｔｅｎｓｏｒｆｌｏｗ")


def test_keywords_list_csv_has_the_contract_columns(run):
    result = run("keywords", "list", "--dimension", "industry", "--group", "retail",
                 "--format", "csv")
    lines = result.output.splitlines()
    assert lines[0] == "term,category,group"
    assert "新零售,industry,retail" in lines
    assert len(lines) - 1 == len(default_taxonomy().select("industry", "retail"))


def test_keywords_classify_json_contract(run, tmp_path):
    queries = tmp_path / "q.txt"
    queries.write_text("无人驾驶汽车\n\n今天天气\n", encoding="utf-8")
    result = run("keywords", "classify", "人工智能安防", "--from", str(queries), "--format", "json")
    data = json.loads(result.output)
    assert [d["query"] for d in data] == ["人工智能安防", "无人驾驶汽车", "今天天气"]
    assert data[0]["matches"] == [{"category": "basic", "group": "", "term": "人工智能"},
                                  {"category": "industry", "group": "security", "term": "智能安防"}]
    assert data[2]["matches"] == []


def test_keywords_validate_cli(run, tmp_path):
    ok = run("keywords", "validate")
    assert ok.exit_code == 0 and "ok," in ok.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[basic]\nterms = ["AI"]\n[weird]\nterms = ["x"]\n', encoding="utf-8")
    result = run("keywords", "validate", str(bad))
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {bad}:3: unknown dimension 'weird' (expected one of " \
                                    "basic, professional, technical, application, industry)"


def test_init_loads_taxonomy_into_database(db_path):
    from aicity.db import store
    db = store.connect(db_path)
    groups = store.keyword_groups_frame(db)
    assert len(groups) == len(default_taxonomy().terms)
    assert store.resolve_keyword(db, "人工智慧")[1] == "人工智能"  # aliases resolve


RELATED = pd.DataFrame([
    # keyword, word, pv, ratio, sim
    ("人脸识别", "人脸识别考勤机", 5000, 10, 0.9),
    ("智能安防", "人脸识别考勤机", 3000, 5, 0.7),
    ("人脸识别", "刷脸", 800, 0, 0.8),
    ("人脸识别", "人脸识别", 9000, 0, 1.0),     # already a term: left out
    ("人工智能", "人工智慧", 9000, 0, 1.0),     # already an alias: left out
    ("自动驾驶", "特斯拉", 20000, 3, 0.6),
    ("自动驾驶", "无人驾驶出租车", 100, 50, 0.5),
], columns=["keyword", "word", "pv", "ratio", "sim"])


def test_suggest_ranks_candidates_with_evidence(clf):
    from aicity.keywords import suggest_terms
    out = suggest_terms(RELATED, clf)
    assert set(out["word"]) == {"人脸识别考勤机", "刷脸", "特斯拉", "无人驾驶出租车"}
    vision = out[(out["category"] == "application") & (out["group"] == "vision")]
    # 人脸识别考勤机 mentions 人脸识别; 刷脸 mentions no term and takes its seed's group.
    assert list(vision["word"]) == ["人脸识别考勤机", "刷脸"]
    assert "mentions 人脸识别" in vision.iloc[0]["evidence"]
    assert vision.iloc[1]["evidence"] == "related to 人脸识别"
    assert vision.iloc[0]["seeds"] == 2
    driving = out[out["group"] == "driving"]
    assert list(driving["word"]) == ["特斯拉", "无人驾驶出租车"]  # higher sim × log(pv) first
    assert "related to 自动驾驶" in driving.iloc[0]["evidence"]


def test_suggest_cli_reads_a_file(run, tmp_path):
    path = tmp_path / "related.csv"
    RELATED.to_csv(path, index=False)
    result = run("keywords", "suggest", "--from", str(path), "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("word,category,group,score")
    assert "特斯拉,industry,driving" in result.output
