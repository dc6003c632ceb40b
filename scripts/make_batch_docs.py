#!/usr/bin/env python3
"""Write N short Chinese wire-style documents as JSONL for `tolk batch` throughput runs.

Each document is 2-4 paragraphs of 1-3 sentences drawn (seeded, with replacement) from a pool
of sentences written for this script. Usage:
    scripts/make_batch_docs.py [--count 200] [--seed 0] > docs.jsonl
Also writes one .txt per document with --folder DIR (for per-document `tolk translate` runs).
"""
import argparse
import json
import os
import random

POOL = [
    "外交部发言人今天在例行记者会上表示，中方愿与各方保持沟通。",
    "双方就地区安全局势交换了意见，并同意继续举行会谈。",
    "国家统计局公布的数据显示，第三季度经济同比增长百分之四点八。",
    "受强降雨影响，南方多个省份启动了防汛应急响应。",
    "当地政府表示，受灾群众已被转移到安全地带。",
    "央行宣布下调存款准备金率零点二五个百分点。",
    "分析人士认为，此举旨在支持实体经济发展。",
    "新能源汽车出口在前十个月继续保持快速增长。",
    "该公司周二发布声明，称将在欧洲新建一座工厂。",
    "会议期间，两国领导人签署了多项合作协议。",
    "联合国秘书长呼吁冲突各方立即停火。",
    "世界卫生组织表示，疫苗接种率仍需进一步提高。",
    "北京今天迎来入冬以来的第一场雪。",
    "气象部门预计，未来三天将有大风降温天气。",
    "中国女排在决赛中以三比一战胜对手，获得冠军。",
    "这是该队时隔五年再次赢得这项赛事。",
    "股市今天小幅收高，科技股表现活跃。",
    "人民币对美元汇率中间价上调了五十个基点。",
    "铁路部门预计春运期间将发送旅客超过四亿人次。",
    "专家提醒，旅客应提前规划行程，错峰出行。",
    "警方已经对事故原因展开调查。",
    "目前尚无人员伤亡的报告。",
    "该项目总投资约为一百二十亿元。",
    "据报道，新的航线将于明年三月正式开通。",
    "学校将在下周恢复线下教学。",
    "市民对这一政策普遍表示欢迎。",
    "双方同意加强在贸易、能源和科技领域的合作。",
    "代表团将于周四启程前往日内瓦参加谈判。",
    "有关部门表示，将进一步加强市场监管。",
    "这一数字比去年同期增加了百分之十二。",
    "美国和俄罗斯官员在日内瓦就叙利亚问题举行了会谈。",
    "会谈持续了大约五个小时，但没有达成最终协议。",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folder")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    if args.folder:
        os.makedirs(args.folder, exist_ok=True)
    for i in range(args.count):
        paragraphs = [
            "".join(rng.choice(POOL) for _ in range(rng.randint(1, 3)))
            for _ in range(rng.randint(2, 4))
        ]
        text = "\n\n".join(paragraphs) + "\n"
        doc_id = f"zh-{i:04d}"
        print(json.dumps({"id": doc_id, "text": text, "lang": "zh"}, ensure_ascii=False))
        if args.folder:
            with open(os.path.join(args.folder, doc_id + ".txt"), "w", encoding="utf-8") as f:
                f.write(text)


if __name__ == "__main__":
    main()
