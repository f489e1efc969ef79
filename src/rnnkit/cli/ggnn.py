"""``rnnkit train ggnn`` and ``rnnkit answer``: gated graph networks on bAbI stories as graphs."""
from __future__ import annotations

import argparse
import sys

from .flags import add, positive_int, require
from .task import TrainTask, register_predict, register_task, task_checkpoint

BABI_TASKS = (4, 15, 16, 18, 19)                         # rnnkit.data.babi.TASKS (a test checks)
DEV_STORIES = 50                                         # the last stories of the training file, as Li et al.


def add_flags(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    require(data.add_argument("--babi", metavar="DIR", help="a bAbI fold directory with train/ and test/ holding "
                                                             "TASK_graphs.txt and its name files (Li et al. 2016's "
                                                             "format)"))
    require(data.add_argument("--task", type=int, choices=BABI_TASKS, help="the bAbI task"))
    data.add_argument("--question-type", type=positive_int,
                      help="answer only questions of this type (default: all, the type marked in the annotations)")
    data.add_argument("--train-stories", type=positive_int, default=950,
                      help=f"train on the first N stories of the training file (the last {DEV_STORIES} are the dev "
                           "split)")
    model = parser.add_argument_group("model")
    add(model, "hidden_size", 10, help="the state size D of every node")
    model.add_argument("--propagation-steps", type=positive_int, default=5, help="message-passing steps T")


def run_train(args: argparse.Namespace, run) -> dict:
    from ..data.babi import TASKS, load_babi_task
    from ..data.graph_batches import GraphBatches
    from ..tasks.graphqa import GraphQA, GraphQAConfig, answer_accuracy, question_examples
    from .errors import CommandError
    from .task import fingerprint

    babi = load_babi_task(args.babi, args.task)
    output, arguments, answers = TASKS[args.task]
    types = [args.question_type] if args.question_type else list(range(1, babi.question_types + 1))
    if args.question_type and args.question_type > babi.question_types:
        raise CommandError(f"--question-type: task {args.task} has question types 1..{babi.question_types}")
    if len(babi.train) <= DEV_STORIES:
        raise CommandError(f"--babi: {len(babi.train)} training stories, expected more than the {DEV_STORIES} of dev")
    train_stories = babi.train[:min(args.train_stories, len(babi.train) - DEV_STORIES)]
    splits = {"train": train_stories, "dev": babi.train[-DEV_STORIES:], "test": babi.test}
    examples = {name: question_examples(stories, types, arguments) for name, stories in splits.items()}
    empty = [name for name, part in examples.items() if not part]
    if empty:
        raise CommandError(f"--question-type: no question of type {args.question_type} in the {empty[0]} split")
    config = GraphQAConfig(output, babi.edge_types, len(types) * arguments, args.hidden_size, args.propagation_steps,
                           max(len(babi.labels), 1) if output != "node" else 1,
                           answers if output == "sequence" else 1)
    print(f"bAbI task {args.task} ({output} output): {len(train_stories)} stories, "
          f"{'/'.join(str(len(examples[s])) for s in splits)} train/dev/test questions", file=sys.stderr)
    data = {name: GraphBatches(examples[name], config.annotation_size, args.batch_size, shuffle=name == "train")
            for name in ("train", "dev")}
    metadata = {"task": "ggnn", "babi_task": args.task, "question_types": types, "labels": babi.labels,
                "node_names": babi.node_names}
    trainer = run.fit(GraphQA(config), data["train"], data["dev"], metadata,
                      data_hash=fingerprint([args.task, types, len(train_stories), str(args.babi)]))
    accuracy = answer_accuracy(trainer.model, examples["test"], args.batch_size)
    print(f"test: accuracy {accuracy:.4f}  questions {len(examples['test'])}")
    return {"task": args.task, "train_stories": len(train_stories), "question_types": types,
            "accuracy": accuracy, "questions": len(examples["test"])}


TASK = TrainTask(
    "ggnn", help="train a gated graph network on bAbI graphs (tasks 4, 15, 16, 18, 19)",
    description="Trains a gated graph neural network (Li et al. 2016: typed messages along and against each edge, "
                "GRU updates) with the output the task asks for: the answer node (4, 15, 16), a true/false label "
                "(18) or a sequence of two directions (19, GGS-NN). The question's arguments are marked in the node "
                "annotations. Keeps the model with the best dev loss (the last 50 training stories) and scores "
                "the test file: the share of questions answered exactly.",
    add_flags=add_flags, run=run_train,
    training={"epochs": 50, "batch_size": 10, "optimizer": "adam", "lr": 0.01, "patience": 10})


def register(commands, train_commands) -> None:
    register_task(train_commands, TASK)
    register_predict(commands, "answer", help="answer the questions of bAbI graph stories with a trained ggnn model",
                     description="Reads stories in the training files' format (edge lines SOURCE TYPE TARGET, question "
                                 "lines ? TYPE ARGUMENT.. with or without the answer, a blank line between stories) "
                                 "and prints each question with the predicted answer: a node id, or label ids, "
                                 "1-based as in the files, with their names when the training directory had them.",
                     inputs=("files", "FILE", "story files (default: stdin)"), batch_size=100, func=run_answer)


def run_answer(args: argparse.Namespace) -> int:
    from ..data.babi import TASKS, parse_stories, read_stories
    from ..tasks.graphqa import GraphQA, answer_questions, question_examples
    from .task import resolve_device

    model, metadata = GraphQA.from_checkpoint(task_checkpoint(args.run_dir, "ggnn"), device=resolve_device(args.device))
    output, arguments, answers = TASKS[metadata["babi_task"]]
    names = {key: {int(k): v for k, v in metadata[key].items()} for key in ("labels", "node_names")}
    options = {"arguments": arguments, "answers": answers, "answer_is_node": output == "node", "require_answers": False}
    sources = [read_stories(path, **options) for path in args.files] or \
        [parse_stories(sys.stdin.read(), source="<stdin>", **options)]
    for story in (story for stories in sources for story in stories):
        asked = [q for q in story.questions if q.kind in metadata["question_types"]]
        examples = question_examples([story], metadata["question_types"], arguments, with_answers=False)
        for question, answer in zip(asked, answer_questions(model, examples, args.batch_size)):
            print(_format_answer(question, answer, names["node_names" if output == "node" else "labels"]))
    return 0


def _format_answer(question, answer: tuple[int, ...], names: dict[int, str]) -> str:
    """``? TYPE ARGS -> ANSWER`` with 1-based ids (and names where known)."""
    asked = " ".join(str(i) for i in (question.kind, *(a + 1 for a in question.arguments)))
    said = ",".join(str(a + 1) for a in answer)
    named = ",".join(names.get(a, "?") for a in answer)
    return f"? {asked} -> {said}" + (f" ({named})" if names else "")
